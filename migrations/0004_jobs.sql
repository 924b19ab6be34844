-- Background jobs (generation now; ingest, training, evaluation share the table) with progress.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('generate', 'ingest', 'train', 'eval')),
    status      TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    params      TEXT NOT NULL,               -- JSON, kind-specific
    progress    REAL NOT NULL DEFAULT 0,     -- 0..1
    message     TEXT NOT NULL DEFAULT '',
    result      TEXT,                        -- JSON, kind-specific
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_created_by ON jobs(created_by, id);
