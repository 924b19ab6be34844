-- The public demo (PostgreSQL; see ../0009_public_demo.sql).
ALTER TABLE jobs ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN visitor TEXT;
ALTER TABLE jobs ADD COLUMN hidden BIGINT NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1));
ALTER TABLE jobs ADD CONSTRAINT jobs_one_owner CHECK ((created_by IS NULL) <> (visitor IS NULL));
CREATE INDEX jobs_visitor ON jobs(visitor, id);
