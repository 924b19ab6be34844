//! The database: SQLite (one file in the data dir, the embedded default) or PostgreSQL
//! (`--database-url postgres://…`: one database for a web server and workers on several
//! machines), through one sqlx `Any` pool. The queries are written once, in SQL both run
//! (`$1` placeholders, `RETURNING`, `ON CONFLICT`, `string_agg`); what differs between the two
//! lives here ([`Dialect`]) and in their migrations: `migrations/` for SQLite,
//! `migrations/postgres/` for PostgreSQL (the same versions, the same tables and rules, and
//! SQLite's date functions `strftime`/`julianday`/`json_each` as the queries use them).
use std::path::Path;

use sqlx::{any::AnyPoolOptions, migrate::Migrator, AnyPool, Executor};

/// The SQLite migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");
/// The PostgreSQL migrations (the same versions as [`MIGRATOR`]).
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// The two databases, and everything in which their SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of a database URL (`sqlite:…`, `postgres://…` or `postgresql://…`); an
    /// error that says what is accepted otherwise.
    pub fn of_url(url: &str) -> Result<Dialect, String> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Dialect::Sqlite),
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            _ => Err(format!(
                "{}: not a database URL: give postgres://user:password@host/database (or \
                 sqlite://path)",
                redact(url)
            )),
        }
    }

    /// The dialect of an open pool.
    pub fn of(pool: &AnyPool) -> Dialect {
        Dialect::of_url(pool.connect_options().database_url.as_str()).unwrap_or(Dialect::Sqlite)
    }

    pub fn migrator(self) -> &'static Migrator {
        match self {
            Dialect::Sqlite => &MIGRATOR,
            Dialect::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// The statement that opens a transaction that will write: SQLite takes its one write lock
    /// at once (so two writers queue instead of failing to upgrade a read lock); PostgreSQL
    /// locks the rows it writes as it goes.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// What ends the select of the job a claim takes: on PostgreSQL the row is locked and rows
    /// other claims hold are skipped (`FOR UPDATE SKIP LOCKED`: concurrent workers take
    /// different jobs without waiting); on SQLite the claim's write transaction already keeps
    /// every other writer out.
    pub fn claim_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// What ends a select whose rows the transaction will change: on PostgreSQL the rows are
    /// locked until it ends (`FOR UPDATE`); on SQLite the write transaction
    /// ([`Dialect::begin_write`]) already holds the whole database.
    pub fn lock_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE",
        }
    }

    /// The statements that make a connection one of ours: SQLite's journal (WAL), durability,
    /// foreign keys (off by default in SQLite) and waiting for the write lock; PostgreSQL needs
    /// none.
    fn session_setup(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
            }
            Dialect::Postgres => "",
        }
    }

    /// The statement that makes this connection's writes durable at each commit (the answer
    /// writer's): SQLite's WAL in `NORMAL` mode may lose the last commits on a power cut;
    /// PostgreSQL is durable at each commit by default.
    pub fn durable_commits(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => Some("PRAGMA synchronous = FULL"),
            Dialect::Postgres => None,
        }
    }
}

/// The SQLite database file at `path` (created when missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The database of a data dir: `database_url` when given (PostgreSQL), else the SQLite file
/// `magictime.sqlite` in it.
pub fn url_for(data_dir: &Path, database_url: Option<&str>) -> String {
    match database_url {
        Some(url) => url.to_owned(),
        None => sqlite_url(&data_dir.join("magictime.sqlite")),
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens (creating a SQLite file if needed) the database and applies pending migrations.
pub async fn open(url: &str) -> Result<AnyPool, sqlx::Error> {
    let dialect = Dialect::of_url(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let pool = connect(url, dialect).await?;
    dialect.migrator().run(&pool).await?;
    Ok(pool)
}

/// Opens the database of a server that has migrated it (`magictime worker`: only `serve`
/// migrates). A missing database or one behind or ahead of this binary's migrations is an
/// error that says what to do, and nothing is changed.
pub async fn open_migrated(url: &str) -> Result<AnyPool, String> {
    let dialect = Dialect::of_url(url)?;
    let shown = redact(url);
    if let Some(path) = sqlite_path(url) {
        if !path.is_file() {
            return Err(format!(
                "{}: no database: start `magictime serve` on this data dir first (it creates \
                 and migrates it)",
                path.display()
            ));
        }
    }
    let pool = connect(url, dialect)
        .await
        .map_err(|e| format!("{shown}: {e}"))?;
    let applied: Result<Vec<i64>, _> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&pool)
            .await;
    let known: Vec<i64> = dialect.migrator().iter().map(|m| m.version).collect();
    match applied {
        Ok(a) if a == known => Ok(pool),
        Ok(a) => {
            pool.close().await;
            Err(format!(
                "{shown}: the database is at migration {} and this magictime expects {}: run \
                 the same version of `magictime serve` on it first",
                a.last().copied().unwrap_or(0),
                known.last().copied().unwrap_or(0)
            ))
        }
        Err(e) => {
            pool.close().await;
            Err(format!("{shown}: not a MagicTime database ({e})"))
        }
    }
}

/// The file of a `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Some(Path::new(rest.split('?').next().unwrap_or(rest)))
}

/// The pool on the database, without migrating it.
async fn connect(url: &str, dialect: Dialect) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    if let Some(dir) = sqlite_path(url).and_then(Path::parent) {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                let setup = dialect.session_setup();
                if !setup.is_empty() {
                    conn.execute(sqlx::raw_sql(setup)).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Health of the database: which one, how many migrations are applied and whether that is all
/// of them. PostgreSQL always writes ahead (`wal`) and enforces foreign keys.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DbHealth {
    pub backend: &'static str,
    pub applied_migrations: i64,
    pub known_migrations: usize,
    pub journal_mode: String,
    pub foreign_keys: bool,
}

pub async fn health(pool: &AnyPool) -> Result<DbHealth, sqlx::Error> {
    let dialect = Dialect::of(pool);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    let (backend, journal_mode, foreign_keys) = match dialect {
        Dialect::Sqlite => {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await?;
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(pool)
                .await?;
            ("sqlite", mode, fk == 1)
        }
        Dialect::Postgres => {
            sqlx::query("SELECT 1").execute(pool).await?;
            ("postgres", "wal".to_owned(), true)
        }
    };
    Ok(DbHealth {
        backend,
        applied_migrations: applied,
        known_migrations: dialect.migrator().iter().count(),
        journal_mode,
        foreign_keys,
    })
}

/// A fresh database in `dir` with one researcher (`r@example.org`), for the unit tests of the
/// modules that need both.
#[cfg(test)]
pub async fn researcher_db(dir: &Path) -> (AnyPool, crate::types::User) {
    let pool = open(&sqlite_url(&dir.join("t.sqlite"))).await.unwrap();
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

    #[test]
    fn database_urls_name_their_dialect_and_messages_hide_passwords() {
        assert_eq!(
            Dialect::of_url("sqlite:///srv/m.sqlite?mode=rwc"),
            Ok(Dialect::Sqlite)
        );
        assert_eq!(
            Dialect::of_url("postgres://u:pw@db/m"),
            Ok(Dialect::Postgres)
        );
        assert_eq!(Dialect::of_url("postgresql://db/m"), Ok(Dialect::Postgres));
        let e = Dialect::of_url("mysql://u:secret@db/m").unwrap_err();
        assert!(e.contains("not a database URL"), "{e}");
        assert!(
            e.contains("mysql://u:***@db/m") && !e.contains("secret"),
            "{e}"
        );
        assert_eq!(
            url_for(Path::new("/srv/d"), None),
            "sqlite:///srv/d/magictime.sqlite?mode=rwc"
        );
        assert_eq!(
            url_for(Path::new("/srv/d"), Some("postgres://db/m")),
            "postgres://db/m"
        );
        assert_eq!(
            sqlite_path("sqlite:///srv/d/magictime.sqlite?mode=rwc"),
            Some(Path::new("/srv/d/magictime.sqlite"))
        );
        assert_eq!(sqlite_path("postgres://db/m"), None);
    }

    #[tokio::test]
    async fn opens_with_wal_foreign_keys_and_all_migrations() {
        let tmp = tempfile::tempdir().unwrap();
        let pool = open(&sqlite_url(&tmp.path().join("t.sqlite")))
            .await
            .unwrap();
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
        let db = sqlite_url(&tmp.path().join("legacy.sqlite"));
        let pool = connect(&db, Dialect::Sqlite).await.unwrap();
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
