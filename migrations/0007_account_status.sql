-- An admin can disable an account (it can no longer log in; its sessions end) and enable it again.
ALTER TABLE users ADD COLUMN disabled_at TEXT;
