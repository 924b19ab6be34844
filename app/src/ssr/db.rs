//! Opening the SQLite database: WAL, foreign keys on, a busy timeout, one pool; migrations from
//! `migrations/` (embedded at build time) applied at start.
use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};

/// The project's migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Opens (creating if needed) the database file and applies pending migrations.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Health of the database: how many migrations are applied and whether that is all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DbHealth {
    pub applied_migrations: i64,
    pub known_migrations: usize,
    pub journal_mode: String,
    pub foreign_keys: bool,
}

pub async fn health(pool: &SqlitePool) -> Result<DbHealth, sqlx::Error> {
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(pool)
            .await?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await?;
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await?;
    Ok(DbHealth {
        applied_migrations: applied,
        known_migrations: MIGRATOR.iter().count(),
        journal_mode,
        foreign_keys: fk == 1,
    })
}

/// A fresh database in `dir` with one researcher (`r@example.org`), for the unit tests of the
/// modules that need both.
#[cfg(test)]
pub async fn researcher_db(dir: &Path) -> (SqlitePool, crate::types::User) {
    let pool = open(&dir.join("t.sqlite")).await.unwrap();
    let u = super::auth::create_user(
        &pool,
        "r@example.org",
        "password1",
        crate::types::Role::Researcher,
    )
    .await
    .unwrap();
    (pool, u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_with_wal_foreign_keys_and_all_migrations() {
        let tmp = tempfile::tempdir().unwrap();
        let pool = open(&tmp.path().join("t.sqlite")).await.unwrap();
        let h = health(&pool).await.unwrap();
        assert_eq!(h.applied_migrations as usize, h.known_migrations);
        assert!(h.known_migrations >= 1);
        assert_eq!(h.journal_mode, "wal");
        assert!(h.foreign_keys);
        // Foreign keys are enforced: a session for a missing user is rejected.
        let err =
            sqlx::query("INSERT INTO sessions(token_hash,user_id,expires_at) VALUES('x',999,'z')")
                .execute(&pool)
                .await;
        assert!(err.is_err());
        pool.close().await;
    }
}
