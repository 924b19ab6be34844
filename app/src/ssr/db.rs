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
    let pool = connect(path).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Opens the database of a server that has migrated it (`magictime worker`: only `serve`
/// migrates). A missing file or one behind or ahead of this binary's migrations is an error
/// that says what to do, and nothing is changed.
pub async fn open_migrated(path: &Path) -> Result<SqlitePool, String> {
    if !path.is_file() {
        return Err(format!(
            "{}: no database: start `magictime serve` on this data dir first (it creates and \
             migrates it)",
            path.display()
        ));
    }
    let pool = connect(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let applied: Result<Vec<i64>, _> = sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version",
    )
    .fetch_all(&pool)
    .await;
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    match applied {
        Ok(a) if a == known => Ok(pool),
        Ok(a) => {
            pool.close().await;
            Err(format!(
                "{}: the database is at migration {} and this magictime expects {}: run the \
                 same version of `magictime serve` on it first",
                path.display(),
                a.last().copied().unwrap_or(0),
                known.last().copied().unwrap_or(0)
            ))
        }
        Err(e) => {
            pool.close().await;
            Err(format!(
                "{}: not a MagicTime database ({e})",
                path.display()
            ))
        }
    }
}

/// The pool on the database file, without migrating it.
async fn connect(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
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

    /// A database made by the first four migrations (accounts, studies, annotation, jobs: what
    /// the first releases shipped), holding data, is upgraded by the current binary: the later
    /// migrations alter populated tables and add triggers; every row survives and the new rules
    /// hold on the old rows.
    #[tokio::test]
    async fn a_database_of_the_first_migrations_upgrades_with_its_data() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("migrations");
        std::fs::create_dir_all(&old).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let mut names: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert!(names.len() > 4, "{names:?}");
        for n in &names[..4] {
            std::fs::copy(src.join(n), old.join(n)).unwrap();
        }
        let db = tmp.path().join("legacy.sqlite");
        let pool = connect(&db).await.unwrap();
        Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO users(id, email, password_hash, role) VALUES \
             (1, 'r@example.org', 'h', 'researcher'), (2, 'a@example.org', 'h', 'annotator')",
            "INSERT INTO sessions(token_hash, user_id, expires_at) VALUES ('t1', 1, '2999-01-01')",
            "INSERT INTO studies(id, slug, owner_id, title, status, design) VALUES \
             (1, 'slug1', 1, 'Old study', 'draft', '{}')",
            "INSERT INTO stimuli(id, study_id, media_id, condition, prompt, source, frames, fps, \
             width, height) VALUES (1, 1, 'm1', 'A', 'p', 's', 16, 8.0, 64, 64), \
             (2, 1, 'm2', 'B', 'p', 's', 16, 8.0, 64, 64)",
            "UPDATE studies SET status = 'live' WHERE id = 1",
            "INSERT INTO participants(id, study_id, token_hash, external_id, seq, seed, \
             completed_at) VALUES (1, 1, 'pt', 'P1', 0, 7, '2026-01-01T00:00:00Z'), \
             (2, 1, 'pt2', 'P2', 1, 8, NULL)",
            "INSERT INTO trials(id, participant_id, pos, kind, prompt, stimuli, seed) VALUES \
             (1, 1, 0, 'main', 'p', '[1,2]', 3)",
            "INSERT INTO answers(trial_id, criterion, choice, rt_ms) VALUES (1, 0, 1, 4321)",
            "INSERT INTO jobs(id, kind, status, params, created_by) VALUES \
             (1, 'generate', 'done', '{\"prompt\":\"x\"}', 1)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let pool = open(&db).await.unwrap();
        let h = health(&pool).await.unwrap();
        assert_eq!(h.applied_migrations as usize, h.known_migrations);
        let (email, disabled): (String, Option<String>) =
            sqlx::query_as("SELECT email, disabled_at FROM users WHERE id = 1")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((email.as_str(), disabled), ("r@example.org", None));
        let answer: (i64, i64) = sqlx::query_as("SELECT choice, rt_ms FROM answers")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(answer, (1, 4321));
        let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM stimuli), \
             (SELECT COUNT(*) FROM participants WHERE demographics_at IS NULL), \
             (SELECT COUNT(*) FROM trials), (SELECT COUNT(*) FROM jobs WHERE status = 'done')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(counts, (1, 2, 2, 1, 1));
        // The old rules still hold on old rows, and the new ones apply to them.
        let frozen = sqlx::query("UPDATE studies SET design = '{\"x\":1}' WHERE id = 1")
            .execute(&pool)
            .await;
        assert!(frozen.is_err(), "the live study's design changed");
        let late = sqlx::query(
            "INSERT INTO study_demographics(participant_id, question, answer) VALUES (1, 'age', '30')",
        )
        .execute(&pool)
        .await;
        assert!(late.is_err(), "demographics accepted after completion");
        sqlx::query(
            "INSERT INTO study_demographics(participant_id, question, answer) VALUES (2, 'age', '30')",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO study_metrics(study_id, status, stimuli_key) VALUES (1, 'running', 'k')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}
