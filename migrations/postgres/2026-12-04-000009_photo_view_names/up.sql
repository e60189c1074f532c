-- A photo's view is stored as the API spells it (`left45`, `right45`): the first CHECK said
-- `left_45`/`right_45`, which the service never wrote, so oblique photos could not be stored.
ALTER TABLE photos DROP CONSTRAINT photos_view_check;
UPDATE photos SET view = 'left45' WHERE view = 'left_45';
UPDATE photos SET view = 'right45' WHERE view = 'right_45';
ALTER TABLE photos ADD CONSTRAINT photos_view_check
    CHECK (view IN ('frontal', 'left45', 'right45', 'left_lateral', 'right_lateral', 'other'));
