-- Jobs run under leases (ssr::jobs): a worker holds a running job until `lease_until` (unix ms,
-- by the database's clock) and renews it while it works; a job whose lease ran out goes back to
-- the queue (its worker died) until it has been tried `attempts` times (the worker's limit).
-- `cancel_requested` asks the worker running a job to stop it (checked between steps).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_requested IN (0, 1));
