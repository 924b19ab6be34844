-- The public demo (serve's demo mode, an admin setting): an anonymous visitor's generation has
-- no account (`created_by` NULL) but a `visitor`, the SHA-256 of the visitor's cookie; every
-- job has exactly one of the two. An admin can hide any generation (`hidden`: listed and served
-- to admins only). SQLite cannot drop a NOT NULL, so the table is rebuilt with the same rows,
-- columns and indexes (nothing references jobs).
CREATE TABLE jobs_new (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('generate', 'ingest', 'train', 'eval')),
    status      TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    params      TEXT NOT NULL,
    progress    REAL NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    result      TEXT,
    created_by  INTEGER REFERENCES users(id),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at  TEXT,
    finished_at TEXT,
    lease_owner TEXT,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    visitor     TEXT,
    hidden      INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    CHECK ((created_by IS NULL) <> (visitor IS NULL))
);
INSERT INTO jobs_new(id, kind, status, params, progress, message, result, created_by, created_at,
                     started_at, finished_at, lease_owner, lease_until, attempts, cancel_requested)
    SELECT id, kind, status, params, progress, message, result, created_by, created_at,
           started_at, finished_at, lease_owner, lease_until, attempts, cancel_requested
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_created_by ON jobs(created_by, id);
CREATE INDEX jobs_visitor ON jobs(visitor, id);
