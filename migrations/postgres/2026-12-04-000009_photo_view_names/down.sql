ALTER TABLE photos DROP CONSTRAINT photos_view_check;
UPDATE photos SET view = 'left_45' WHERE view = 'left45';
UPDATE photos SET view = 'right_45' WHERE view = 'right45';
ALTER TABLE photos ADD CONSTRAINT photos_view_check
    CHECK (view IN ('frontal', 'left_45', 'right_45', 'left_lateral', 'right_lateral', 'other'));
