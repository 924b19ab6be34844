-- Demographics of study participants (PostgreSQL; see ../0005_study_demographics.sql).
ALTER TABLE participants ADD COLUMN demographics_at TEXT;

CREATE TABLE study_demographics (
    participant_id  BIGINT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    PRIMARY KEY (participant_id, question)
);

CREATE FUNCTION study_demographics_after_completion() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT completed_at FROM participants WHERE id = NEW.participant_id) IS NOT NULL THEN
        RAISE EXCEPTION 'the participant has completed the study';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER study_demographics_after_completion BEFORE INSERT ON study_demographics
FOR EACH ROW EXECUTE FUNCTION study_demographics_after_completion();
CREATE TRIGGER study_demographics_no_update BEFORE UPDATE ON study_demographics
FOR EACH ROW EXECUTE FUNCTION raise_abort('demographic answers cannot change');
