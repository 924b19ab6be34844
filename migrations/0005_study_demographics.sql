-- Optional demographics of study participants. The questions are part of the design (studies.design
-- JSON, frozen once live by studies_design_frozen); the answers are stored here, once per
-- participant, before they complete.
ALTER TABLE participants ADD COLUMN demographics_at TEXT;

CREATE TABLE study_demographics (
    participant_id  INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    -- The question's name in the design.
    question        TEXT NOT NULL,
    -- One of the question's choices (unanswered optional questions have no row).
    answer          TEXT NOT NULL,
    PRIMARY KEY (participant_id, question)
) WITHOUT ROWID;

-- Answers are given once: no rows after completion, no changes afterwards.
CREATE TRIGGER study_demographics_after_completion BEFORE INSERT ON study_demographics
WHEN (SELECT completed_at FROM participants WHERE id = NEW.participant_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'the participant has completed the study');
END;
CREATE TRIGGER study_demographics_no_update BEFORE UPDATE ON study_demographics
BEGIN
    SELECT RAISE(ABORT, 'demographic answers cannot change');
END;
