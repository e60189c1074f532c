DROP TABLE scores;
DROP TABLE scales;
DROP TABLE photos;
