-- Browser user studies: designs, stimuli, participants, assigned trials and answers.
CREATE TABLE studies (
    id               INTEGER PRIMARY KEY,
    -- Public random token in participant links (/s/<slug>): reveals nothing about the study.
    slug             TEXT NOT NULL UNIQUE,
    owner_id         INTEGER NOT NULL REFERENCES users(id),
    title            TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'pilot', 'live', 'closed')),
    -- The design (JSON, see app/src/ssr/studies/design.rs); frozen once live.
    design           TEXT NOT NULL,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The design of a live or closed study cannot change (enforced here as well as in the server).
CREATE TRIGGER studies_design_frozen BEFORE UPDATE OF design ON studies
WHEN OLD.status IN ('live', 'closed') AND NEW.design IS NOT OLD.design
BEGIN
    SELECT RAISE(ABORT, 'study design is frozen once live');
END;

-- Lifecycle moves only forward: draft -> pilot -> live -> closed (pilot may be skipped).
CREATE TRIGGER studies_status_forward BEFORE UPDATE OF status ON studies
WHEN NOT (
    (OLD.status = NEW.status)
    OR (OLD.status = 'draft' AND NEW.status IN ('pilot', 'live'))
    OR (OLD.status = 'pilot' AND NEW.status IN ('draft', 'live'))
    OR (OLD.status = 'live' AND NEW.status = 'closed'))
BEGIN
    SELECT RAISE(ABORT, 'invalid study status change');
END;

CREATE TABLE stimuli (
    id          INTEGER PRIMARY KEY,
    study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    -- Opaque random id used in media URLs; the condition never reaches participants.
    media_id    TEXT NOT NULL UNIQUE,
    condition   TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    -- 'normal', or 'degraded' (a known-worse copy used by gold trials).
    role        TEXT NOT NULL DEFAULT 'normal' CHECK (role IN ('normal', 'degraded')),
    source      TEXT NOT NULL,
    frames      INTEGER NOT NULL,
    fps         REAL NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    UNIQUE (study_id, condition, prompt, role)
);
CREATE INDEX stimuli_study ON stimuli(study_id);

CREATE TRIGGER stimuli_frozen_insert BEFORE INSERT ON stimuli
WHEN (SELECT status FROM studies WHERE id = NEW.study_id) IN ('live', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'study design is frozen once live');
END;
CREATE TRIGGER stimuli_frozen_delete BEFORE DELETE ON stimuli
WHEN (SELECT status FROM studies WHERE id = OLD.study_id) IN ('live', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'study design is frozen once live');
END;

CREATE TABLE participants (
    id            INTEGER PRIMARY KEY,
    study_id      INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    -- SHA-256 of the random resume token held by the participant's browser.
    token_hash    TEXT NOT NULL UNIQUE,
    -- PROLIFIC_PID (or a generated id): one submission per id and study.
    external_id   TEXT NOT NULL,
    prolific_study TEXT,
    prolific_session TEXT,
    -- 0-based arrival index: drives the balanced (Latin-square) assignment.
    seq           INTEGER NOT NULL,
    seed          INTEGER NOT NULL,
    pilot         INTEGER NOT NULL DEFAULT 0,
    consent_at    TEXT,
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at  TEXT,
    UNIQUE (study_id, external_id)
);
CREATE INDEX participants_study ON participants(study_id);

CREATE TABLE trials (
    id              INTEGER PRIMARY KEY,
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    -- Order shown to the participant (0-based).
    pos             INTEGER NOT NULL,
    -- 'practice', 'main', 'attention' or 'gold'.
    kind            TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    -- JSON array of stimulus ids in on-screen order (left to right).
    stimuli         TEXT NOT NULL,
    -- For attention/gold trials: the expected answer (position index, or -1 for a tie).
    expected        INTEGER,
    -- The seed that produced this trial's order and positions (logged for audit).
    seed            INTEGER NOT NULL,
    UNIQUE (participant_id, pos)
);

CREATE TABLE answers (
    trial_id      INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    criterion     INTEGER NOT NULL,
    -- Position index chosen (0-based), -1 for a tie, or the rating (1-5) for rating designs.
    choice        INTEGER NOT NULL,
    -- Milliseconds from trial display to answer, measured by the browser.
    rt_ms         INTEGER NOT NULL,
    answered_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (trial_id, criterion)
) WITHOUT ROWID;
