-- Automatic metrics (CLIPSIM, metamorphic score) of a study's normalised stimuli per condition,
-- computed on demand in the background and cached here (never on a page view).
CREATE TABLE study_metrics (
    study_id     INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    -- SHA-256 of the stimuli the values were computed from: a change makes them out of date.
    stimuli_key  TEXT NOT NULL,
    -- Name of the image-text embedder (CLIP) used.
    embedder     TEXT,
    -- JSON array of per-condition values (see app/src/ssr/studies/auto_metrics.rs).
    result       TEXT,
    error        TEXT,
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT
);
