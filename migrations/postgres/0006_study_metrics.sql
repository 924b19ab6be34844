-- Automatic metrics of a study's stimuli (PostgreSQL; see ../0006_study_metrics.sql).
CREATE TABLE study_metrics (
    study_id     BIGINT PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    stimuli_key  TEXT NOT NULL,
    embedder     TEXT,
    result       TEXT,
    error        TEXT,
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT
);
