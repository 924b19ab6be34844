-- Disabled accounts (PostgreSQL; see ../0007_account_status.sql).
ALTER TABLE users ADD COLUMN disabled_at TEXT;
