-- Caption annotation: dataset projects, their items (clips with draft captions and provenance),
-- members, locks, autosaved drafts, every caption version (the history) and hotkey preferences.
CREATE TABLE annot_projects (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    -- The manifest imported, relative to <data_dir>/datasets; clips are relative to its folder.
    manifest       TEXT NOT NULL,
    overlap        INTEGER NOT NULL DEFAULT 1 CHECK (overlap BETWEEN 1 AND 10),
    lock_timeout_s INTEGER NOT NULL DEFAULT 600 CHECK (lock_timeout_s BETWEEN 1 AND 86400),
    created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Who may annotate (write captions) and who may review (accept) in a project.
CREATE TABLE annot_members (
    project_id INTEGER NOT NULL REFERENCES annot_projects(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer')),
    PRIMARY KEY (project_id, user_id, role)
);
CREATE INDEX annot_members_user ON annot_members(user_id);

CREATE TABLE annot_items (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES annot_projects(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    videoid      TEXT NOT NULL,
    file         TEXT NOT NULL,
    is_transmit  INTEGER NOT NULL DEFAULT 0 CHECK (is_transmit IN (0, 1)),
    title        TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    description  TEXT NOT NULL DEFAULT '',
    draft        TEXT NOT NULL,
    provenance   TEXT NOT NULL DEFAULT '{}',
    meta         TEXT NOT NULL DEFAULT '{}',
    -- open: being annotated; review: all overlap submissions in; flagged: a submission carried a
    -- flag; accepted / rejected: decided by a reviewer.
    status       TEXT NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'review', 'flagged', 'accepted', 'rejected')),
    -- A send-back starts a new round; submissions count per round.
    round        INTEGER NOT NULL DEFAULT 0,
    n_submits    INTEGER NOT NULL DEFAULT 0,
    accepted_version INTEGER,
    UNIQUE (project_id, videoid),
    UNIQUE (project_id, seq)
);
CREATE INDEX annot_items_queue ON annot_items(project_id, status, seq);

-- One holder per item; an expired lock is free.
CREATE TABLE annot_locks (
    item_id     INTEGER PRIMARY KEY REFERENCES annot_items(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX annot_locks_user ON annot_locks(user_id);

CREATE TABLE annot_autosave (
    item_id    INTEGER NOT NULL REFERENCES annot_items(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text       TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (item_id, user_id)
);

-- Every caption version and decision, append-only: the full history.
CREATE TABLE annot_versions (
    id         INTEGER PRIMARY KEY,
    item_id    INTEGER NOT NULL REFERENCES annot_items(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    round      INTEGER NOT NULL,
    kind       TEXT NOT NULL
               CHECK (kind IN ('submit', 'skip', 'review_edit', 'accept', 'send_back', 'reject')),
    text       TEXT NOT NULL DEFAULT '',
    flags      TEXT NOT NULL DEFAULT '[]',
    checklist  TEXT NOT NULL DEFAULT '[]',
    seconds    REAL,
    comment    TEXT NOT NULL DEFAULT '',
    -- For accept: the version accepted.
    ref_version INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX annot_versions_item ON annot_versions(item_id, round);
CREATE INDEX annot_versions_user ON annot_versions(user_id, item_id);

CREATE TABLE annot_prefs (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    hotkeys TEXT NOT NULL
);
