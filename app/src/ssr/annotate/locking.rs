//! Item locks: an item being annotated belongs to one annotator until they submit, skip or
//! release it, or until the project's timeout passes without an autosave (then anyone may take
//! it). Acquiring is one atomic UPSERT, so two browsers racing for an item cannot both win.
use sqlx::AnyPool;

use super::Result;

/// Takes (or extends) the lock on `item_id` for `user_id` for `timeout_s` seconds. Returns
/// false when someone else holds an unexpired lock.
pub async fn acquire(pool: &AnyPool, item_id: i64, user_id: i64, timeout_s: i64) -> Result<bool> {
    let res = sqlx::query(
        "INSERT INTO annot_locks(item_id, user_id, acquired_at, expires_at) \
         VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
                 strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3)) \
         ON CONFLICT(item_id) DO UPDATE SET \
           acquired_at = CASE WHEN annot_locks.user_id = excluded.user_id \
                              AND annot_locks.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                         THEN annot_locks.acquired_at ELSE excluded.acquired_at END, \
           user_id = excluded.user_id, \
           expires_at = excluded.expires_at \
         WHERE annot_locks.user_id = excluded.user_id \
            OR annot_locks.expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )
    .bind(item_id)
    .bind(user_id)
    .bind(format!("+{timeout_s} seconds"))
    .execute(pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Frees the user's lock on the item (no-op when they do not hold it).
pub async fn release(pool: &AnyPool, item_id: i64, user_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM annot_locks WHERE item_id = $1 AND user_id = $2")
        .bind(item_id)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The unexpired holder of an item's lock and the seconds left.
pub async fn holder(pool: &AnyPool, item_id: i64) -> Result<Option<(i64, f64)>> {
    Ok(sqlx::query_as(
        "SELECT user_id, (julianday(expires_at) - julianday('now')) * 86400.0 FROM annot_locks \
         WHERE item_id = $1 AND expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )
    .bind(item_id)
    .fetch_optional(pool)
    .await?)
}

/// The project's lock timeout.
pub async fn timeout_s(pool: &AnyPool, project_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT lock_timeout_s FROM annot_projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(pool)
            .await?,
    )
}
