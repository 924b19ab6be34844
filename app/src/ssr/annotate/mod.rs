//! Caption annotation on the server: projects and manifest import, item locks, the
//! annotate/skip/submit work loop, review, agreement statistics and exports.
pub mod agreement;
pub mod export;
pub mod import;
pub mod locking;
pub mod projects;
pub mod review;
pub mod work;

use sqlx::AnyPool;

use super::{auth, ServerState};
use crate::{
    error::AppError,
    types::{Role, User},
};

/// What can go wrong in annotation; `AppError::from` maps each to an HTTP status and a message
/// for the user (`ssr::error`).
#[derive(Debug, thiserror::Error)]
pub enum AnnotError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The item is locked by someone else, or the caller's lock expired.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T> = std::result::Result<T, AnnotError>;

/// Inside a server function: the state and the logged-in user (401 otherwise).
/// Contexts are read before the first `.await`: a resource's future may outlive the owner
/// that spawned it during SSR (then a later context lookup panics).
pub async fn ctx() -> std::result::Result<(ServerState, User), AppError> {
    let state = crate::ssr::state()?;
    let user = auth::current_user()
        .await?
        .ok_or_else(AppError::login_required)?;
    Ok((state, user))
}

/// A user's rights in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub annotate: bool,
    pub review: bool,
    /// May see the project (members, researchers, admins).
    pub view: bool,
}

/// Annotators are the project's annotator members (only they write captions); reviewers are
/// researchers, admins and the project's reviewer members.
pub async fn rights(pool: &AnyPool, user: &User, project_id: i64) -> Result<Rights> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM annot_projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(pool)
        .await?;
    if exists.is_none() {
        return Err(AnnotError::NotFound(format!("project {project_id}")));
    }
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT role FROM annot_members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user.id)
            .fetch_all(pool)
            .await?;
    let staff = user.role.satisfies(Role::Researcher);
    let annotate = roles.iter().any(|r| r == "annotator");
    let review = staff || roles.iter().any(|r| r == "reviewer");
    Ok(Rights {
        annotate,
        review,
        view: annotate || review,
    })
}

pub fn forbid(what: &str) -> AnnotError {
    AnnotError::Forbidden(format!("forbidden: {what}"))
}

/// The project an item belongs to.
pub async fn item_project(pool: &AnyPool, item_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT project_id FROM annot_items WHERE id = $1")
        .bind(item_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AnnotError::NotFound(format!("item {item_id}")))
}

/// SQLite's "now" in the format every timestamp of the schema uses.
pub const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

pub fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}
