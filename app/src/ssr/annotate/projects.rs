//! Dataset projects: creation by importing a manifest under `<data_dir>/datasets`, members,
//! and the list with progress counts.
use std::path::{Component, Path, PathBuf};

use sqlx::AnyPool;

use super::{forbid, import, AnnotError, Result};
use crate::{
    api::annotate::ProjectSummary,
    types::{Role, User},
};

pub struct NewProject {
    pub name: String,
    /// Relative to `<data_dir>/datasets`.
    pub manifest: String,
    pub overlap: i64,
    pub lock_timeout_s: i64,
    pub annotators: Vec<String>,
    pub reviewers: Vec<String>,
}

/// `<data_dir>/datasets`: the folder manifests and clips are imported from.
pub fn datasets_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("datasets")
}

/// The manifest's path, refusing anything outside the datasets folder.
pub fn manifest_path(data_dir: &Path, manifest: &str) -> Result<PathBuf> {
    let rel = Path::new(manifest.trim());
    if manifest.trim().is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(AnnotError::BadInput(format!(
            "manifest {manifest:?} must be a relative path inside the datasets folder"
        )));
    }
    Ok(datasets_dir(data_dir).join(rel))
}

/// Creates the project and imports every clip of its manifest in one transaction.
pub async fn create(pool: &AnyPool, data_dir: &Path, user: &User, req: NewProject) -> Result<i64> {
    if !user.role.satisfies(Role::Researcher) {
        return Err(forbid("creating projects needs the researcher role"));
    }
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AnnotError::BadInput(
            "a project needs a name (≤ 200 characters)".into(),
        ));
    }
    if !(1..=10).contains(&req.overlap) {
        return Err(AnnotError::BadInput(
            "overlap must be between 1 and 10".into(),
        ));
    }
    if !(1..=86400).contains(&req.lock_timeout_s) {
        return Err(AnnotError::BadInput(
            "lock timeout must be 1 s to 24 h".into(),
        ));
    }
    let path = manifest_path(data_dir, &req.manifest)?;
    let text = tokio::fs::read_to_string(&path).await.map_err(|e| {
        AnnotError::BadInput(format!("cannot read manifest {}: {e}", req.manifest.trim()))
    })?;
    let rows = tokio::task::spawn_blocking({
        let name = req.manifest.trim().to_owned();
        move || import::parse_manifest(&name, &text)
    })
    .await
    .map_err(|e| AnnotError::BadInput(format!("import failed: {e}")))??;

    let mut members = Vec::new();
    for (emails, role) in [(&req.annotators, "annotator"), (&req.reviewers, "reviewer")] {
        for e in emails {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(e)
                .fetch_optional(pool)
                .await?;
            let id = id.ok_or_else(|| AnnotError::BadInput(format!("no account {e}")))?;
            members.push((id, role));
        }
    }

    let mut tx = pool.begin().await?;
    let res = sqlx::query_scalar(
        "INSERT INTO annot_projects(name, manifest, overlap, lock_timeout_s, created_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(req.manifest.trim())
    .bind(req.overlap)
    .bind(req.lock_timeout_s)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await;
    let pid: i64 = match res {
        Ok(id) => id,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AnnotError::BadInput(format!(
                "a project named {name:?} exists"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    for (uid, role) in members {
        sqlx::query(
            "INSERT INTO annot_members(project_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(pid)
        .bind(uid)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    }
    for (seq, r) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO annot_items(project_id, seq, videoid, file, is_transmit, title, tags, \
             description, draft, provenance, meta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(pid)
        .bind(seq as i64 + 1)
        .bind(&r.videoid)
        .bind(&r.file)
        .bind(r.is_transmit)
        .bind(&r.title)
        .bind(serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".into()))
        .bind(&r.description)
        .bind(&r.draft)
        .bind(serde_json::to_string(&r.provenance).unwrap_or_else(|_| "{}".into()))
        .bind(r.meta.to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        project = pid,
        items = rows.len(),
        by = user.id,
        "annotation project imported"
    );
    Ok(pid)
}

type CountRow = (
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// Projects with counts; annotators only see the projects they are members of.
pub async fn list(pool: &AnyPool, user: &User) -> Result<Vec<ProjectSummary>> {
    let staff = user.role.satisfies(Role::Researcher);
    let rows: Vec<CountRow> = sqlx::query_as(
        "SELECT p.id, p.name, p.manifest, p.overlap, p.lock_timeout_s, \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id), \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id AND i.status = 'open'), \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id AND i.status = 'review'), \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id AND i.status = 'flagged'), \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id AND i.status = 'accepted'), \
           (SELECT COUNT(*) FROM annot_items i WHERE i.project_id = p.id AND i.status = 'rejected'), \
           CASE WHEN EXISTS (SELECT 1 FROM annot_members m WHERE m.project_id = p.id AND m.user_id = $1 AND m.role = 'annotator') THEN 1 ELSE 0 END, \
           CASE WHEN EXISTS (SELECT 1 FROM annot_members m WHERE m.project_id = p.id AND m.user_id = $1 AND m.role = 'reviewer') THEN 1 ELSE 0 END \
         FROM annot_projects p \
         WHERE $2 OR EXISTS (SELECT 1 FROM annot_members m WHERE m.project_id = p.id AND m.user_id = $1) \
         ORDER BY p.id",
    )
    .bind(user.id)
    .bind(staff)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProjectSummary {
            id: r.0,
            name: r.1,
            manifest: r.2,
            overlap: r.3,
            lock_timeout_s: r.4,
            items: r.5,
            open: r.6,
            review: r.7,
            flagged: r.8,
            accepted: r.9,
            rejected: r.10,
            is_annotator: r.11 != 0,
            is_reviewer: r.12 != 0 || staff,
        })
        .collect())
}

pub async fn summary(pool: &AnyPool, user: &User, project_id: i64) -> Result<ProjectSummary> {
    list(pool, user)
        .await?
        .into_iter()
        .find(|p| p.id == project_id)
        .ok_or_else(|| AnnotError::NotFound(format!("project {project_id}")))
}

/// Members as (e-mail, role).
pub async fn members(pool: &AnyPool, project_id: i64) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT u.email, m.role FROM annot_members m JOIN users u ON u.id = m.user_id \
         WHERE m.project_id = $1 ORDER BY m.role, u.email",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?)
}
