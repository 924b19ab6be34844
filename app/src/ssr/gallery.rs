//! Finished and pending generations as people browse them: the page of one generation (with
//! its place in the queue and an estimate of when it starts and ends), the gallery (filters,
//! pages) and an admin's hiding. Every query applies the viewer's visibility
//! ([`Viewer::visibility`]): admins see everything, others what is not hidden, a demo visitor
//! only their own.
use sqlx::AnyPool;

use super::demo::Viewer;
use super::jobs::VISITOR_NAME;
use crate::types::{GalleryItem, GalleryPage, GenerateParams};

/// Generations per gallery page.
pub const PER_PAGE: i64 = 24;
/// The longest prompt search, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The work of a generation in the unit its time is measured by: steps × frames × size².
fn generation_work(p: &crate::types::GenerateParams) -> f64 {
    (p.steps * p.frames) as f64 * (p.size * p.size) as f64
}

/// Where queued or running generation `id` stands: its place in the queue (queued ones: 1 is
/// the next to start) and the seconds until it starts and finishes. The
/// estimate takes the seconds per unit of [`generation_work`] measured over the last 20
/// finished generations (their results' `seconds`), the work ahead (what is left of the
/// running ones, all of the queued ones before it) and the workers busy now (at least one).
async fn queue_estimate(
    pool: &AnyPool,
    id: i64,
) -> Result<(Option<i64>, Option<(f64, f64)>), sqlx::Error> {
    let recent: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT params, result FROM jobs WHERE kind = 'generate' AND status = 'done' \
         ORDER BY id DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    let (mut secs, mut work) = (0.0, 0.0);
    for (params, result) in recent {
        let p: Option<GenerateParams> = serde_json::from_str(&params).ok();
        let s = result
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
            .and_then(|r| r.get("seconds")?.as_f64());
        if let (Some(p), Some(s)) = (p, s) {
            secs += s;
            work += generation_work(&p);
        }
    }
    let rate = (work > 0.0).then(|| secs / work);
    // the running generations and the queued ones up to this one, in the order workers take
    // them (generations first, by id)
    let ahead: Vec<(i64, String, f64, String)> = sqlx::query_as(
        "SELECT id, status, progress, params FROM jobs WHERE kind = 'generate' \
         AND (status = 'running' OR (status = 'queued' AND id <= $1)) ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let workers = ahead.iter().filter(|j| j.1 == "running").count().max(1) as f64;
    let (mut before, mut own, mut place) = (0.0, 0.0, 0);
    for (jid, status, progress, params) in &ahead {
        let w = serde_json::from_str::<GenerateParams>(params)
            .map(|p| generation_work(&p))
            .unwrap_or(0.0);
        let left = if status == "running" {
            w * (1.0 - progress)
        } else {
            w
        };
        if *jid == id {
            own = left;
        } else {
            before += left;
            place += i64::from(status == "queued");
        }
    }
    let queued = ahead.iter().any(|j| j.0 == id && j.1 == "queued");
    let position = queued.then_some(place + 1);
    let estimate = rate.map(|r| {
        let start = if queued { r * before / workers } else { 0.0 };
        (start, start + r * own)
    });
    Ok((position, estimate))
}

/// Generation job `id` as its page shows it to `viewer`; `None` when there is no such
/// generation, or not one `viewer` may see.
pub async fn generation(
    pool: &AnyPool,
    id: i64,
    viewer: &Viewer,
) -> Result<Option<crate::types::GenerationView>, sqlx::Error> {
    use crate::types::{GenerationView, Provenance, FORMATS};
    type Row = (
        String,
        String,
        f64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        i64,
        Option<i64>,
        Option<String>,
    );
    let (admin, visitor) = viewer.visibility();
    let row: Option<Row> = sqlx::query_as(
        "SELECT j.status, j.message, j.progress, COALESCE(u.email, $4), j.created_at, \
         j.started_at, j.finished_at, j.params, j.result, j.hidden, j.created_by, j.visitor \
         FROM jobs j LEFT JOIN users u ON u.id = j.created_by \
         WHERE j.id = $1 AND j.kind = 'generate' \
           AND ($2 = 1 OR j.hidden = 0) AND ($3 IS NULL OR j.visitor = $3)",
    )
    .bind(id)
    .bind(admin)
    .bind(visitor)
    .bind(VISITOR_NAME)
    .fetch_optional(pool)
    .await?;
    let Some((
        status,
        message,
        progress,
        email,
        created,
        started,
        finished,
        params,
        result,
        hidden,
        created_by,
        job_visitor,
    )) = row
    else {
        return Ok(None);
    };
    let Ok(params) = serde_json::from_str(&params) else {
        return Ok(None);
    };
    let provenance: Option<Provenance> = (status == "done")
        .then(|| result.as_deref().and_then(|r| serde_json::from_str(r).ok()))
        .flatten();
    let mut downloads: Vec<(String, String)> = vec![];
    if let Some(p) = &provenance {
        for f in &p.files {
            let ext = f.rsplit('.').next().unwrap_or_default();
            if let Some((_, name)) = FORMATS.iter().find(|(e, _)| *e == ext) {
                downloads.push((format!("/media/{f}"), (*name).to_owned()));
            }
        }
        downloads.push((
            format!("/media/generated/{id}.json"),
            "settings and provenance (JSON)".to_owned(),
        ));
    }
    let pending = status == "queued" || status == "running";
    let (queue_position, estimate) = if pending {
        queue_estimate(pool, id).await?
    } else {
        (None, None)
    };
    let owner = match (created_by, job_visitor) {
        (Some(u), _) => Some(super::demo::Owner::User(u)),
        (None, Some(v)) => Some(super::demo::Owner::Visitor(v)),
        (None, None) => None,
    };
    let may_cancel = pending
        && message != "cancelling…"
        && viewer
            .cancels_for()
            .is_none_or(|o| owner.as_ref() == Some(o));
    Ok(Some(GenerationView {
        queue_position,
        estimate,
        id,
        status,
        message,
        progress,
        requested_by: email,
        created_at: created,
        started_at: started,
        finished_at: finished,
        params,
        provenance,
        downloads,
        hidden: hidden != 0,
        may_cancel,
        admin_view: viewer.is_admin(),
    }))
}

/// A page of the finished generations `viewer` may see, newest first: `mine` keeps the
/// viewer's own, `query` those whose prompt contains it (case-insensitive; at most
/// [`MAX_QUERY_CHARS`]), `page` counts from 1. Without a query the database pages; with one it
/// narrows the rows by the JSON text (a superset: `params` holds the prompt as JSON writes it)
/// and the prompts are compared here.
pub async fn gallery(
    pool: &AnyPool,
    viewer: &Viewer,
    mine: bool,
    query: &str,
    page: i64,
) -> Result<GalleryPage, sqlx::Error> {
    type Row = (i64, String, String, Option<String>, i64);
    let (admin, visitor) = viewer.visibility();
    let (user, _) = viewer.owner.columns();
    let mine_user = if mine { user } else { None };
    let page = page.max(1);
    let needle = query.trim().to_lowercase();
    // the JSON text holds the prompt unchanged unless it has quotes, backslashes or controls;
    // SQLite's LOWER folds ASCII only
    let prefilter = (!needle.is_empty()
        && needle.is_ascii()
        && !needle.contains(['"', '\\'])
        && !needle.chars().any(char::is_control))
    .then(|| {
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let filters = "FROM jobs j LEFT JOIN users u ON u.id = j.created_by \
         WHERE j.kind = 'generate' AND j.status = 'done' \
           AND ($1 = 1 OR j.hidden = 0) AND ($2 IS NULL OR j.visitor = $2) \
           AND ($3 IS NULL OR j.created_by = $3) \
           AND ($4 IS NULL OR LOWER(j.params) LIKE $4 ESCAPE '\\')";
    let select = format!(
        "SELECT j.id, j.params, COALESCE(u.email, $5), j.finished_at, j.hidden {filters} \
         ORDER BY j.id DESC"
    );
    let to_item = |(id, params, email, finished, hidden): Row| {
        let params: GenerateParams = serde_json::from_str(&params).ok()?;
        Some(GalleryItem {
            id,
            params,
            requested_by: email,
            finished_at: finished,
            hidden: hidden != 0,
        })
    };
    if needle.is_empty() {
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {filters}"))
            .bind(admin)
            .bind(visitor)
            .bind(mine_user)
            .bind(None::<String>)
            .fetch_one(pool)
            .await?;
        let rows: Vec<Row> = sqlx::query_as(&format!("{select} LIMIT $6 OFFSET $7"))
            .bind(admin)
            .bind(visitor)
            .bind(mine_user)
            .bind(None::<String>)
            .bind(VISITOR_NAME)
            .bind(PER_PAGE)
            .bind((page - 1) * PER_PAGE)
            .fetch_all(pool)
            .await?;
        return Ok(GalleryPage {
            items: rows.into_iter().filter_map(to_item).collect(),
            total,
            page,
            per_page: PER_PAGE,
        });
    }
    let rows: Vec<Row> = sqlx::query_as(&select)
        .bind(admin)
        .bind(visitor)
        .bind(mine_user)
        .bind(prefilter)
        .bind(VISITOR_NAME)
        .fetch_all(pool)
        .await?;
    let matching: Vec<GalleryItem> = rows
        .into_iter()
        .filter_map(to_item)
        .filter(|g| g.params.prompt.to_lowercase().contains(&needle))
        .collect();
    let total = matching.len() as i64;
    let items = matching
        .into_iter()
        .skip(((page - 1) * PER_PAGE) as usize)
        .take(PER_PAGE as usize)
        .collect();
    Ok(GalleryPage {
        items,
        total,
        page,
        per_page: PER_PAGE,
    })
}

/// Hides a generation from everyone but admins, or shows it again; false when there is no such
/// generation.
pub async fn set_hidden(pool: &AnyPool, id: i64, hidden: bool) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE jobs SET hidden = $2 WHERE id = $1 AND kind = 'generate'")
        .bind(id)
        .bind(i64::from(hidden))
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssr::{
        demo::Owner,
        jobs::{claim, finish, set_progress, submit, submit_capped, Leasing, Outcome},
    };
    use crate::types::Role;

    const LONG: Leasing = Leasing {
        lease_ms: 60_000,
        max_attempts: 3,
    };
    const ALL: &[&str] = &crate::ssr::jobs::KINDS;

    async fn take(pool: &AnyPool, kinds: &[&str]) -> crate::ssr::jobs::Claimed {
        claim(pool, "w", kinds, LONG).await.unwrap().0.unwrap()
    }

    /// The queue's estimate: the measured seconds per unit of work (10 s for one unit here),
    /// half of the running one left, the queued ones ahead in full, one worker; the cap on
    /// queued generations counts one user's queued ones only.
    #[tokio::test]
    async fn queued_generations_have_a_place_and_an_estimate() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        let params = |steps: usize| {
            serde_json::json!({"prompt": "p", "negative": "", "seed": 1, "steps": steps,
                "cfg": 1.0, "frames": 4, "size": 32, "fps": 8.0})
            .to_string()
        };
        let done = submit(&pool, "generate", &params(2), u.id).await.unwrap();
        let c = take(&pool, ALL).await;
        assert_eq!(c.id, done);
        // the result's seconds: 10 s for the work of 2 steps
        let result = serde_json::json!({"seconds": 10.0, "files": []}).to_string();
        assert!(finish(&pool, &c.lease, Outcome::Done(result))
            .await
            .unwrap());
        let running = submit(&pool, "generate", &params(2), u.id).await.unwrap();
        submit(&pool, "generate", &params(4), u.id).await.unwrap();
        let me = Owner::User(u.id);
        let mine = submit_capped(&pool, "generate", &params(6), &me, 3)
            .await
            .unwrap()
            .unwrap();
        // three queued: the cap of 3 holds the next
        assert_eq!(
            submit_capped(&pool, "generate", &params(2), &me, 3)
                .await
                .unwrap(),
            None
        );
        let c = take(&pool, ALL).await;
        assert_eq!(c.id, running);
        set_progress(&pool, &c.lease, 0.5, "half").await.unwrap();
        let viewer = Viewer {
            owner: me.clone(),
            role: Some(Role::Researcher),
        };
        let g = generation(&pool, mine, &viewer).await.unwrap().unwrap();
        assert_eq!(g.queue_position, Some(2));
        // 5 s left of the running one, 20 s of the one ahead, 30 s its own
        assert_eq!(g.estimate, Some((25.0, 55.0)));
        let g = generation(&pool, running, &viewer).await.unwrap().unwrap();
        assert_eq!((g.queue_position, g.estimate), (None, Some((0.0, 5.0))));
        let g = generation(&pool, done, &viewer).await.unwrap().unwrap();
        assert_eq!((g.queue_position, g.estimate), (None, None));
        assert!(generation(&pool, 999, &viewer).await.unwrap().is_none());
        // a demo visitor's cap counts their own queued ones only (the researcher has 3)
        let visitor = Owner::Visitor("v".repeat(64));
        assert!(submit_capped(&pool, "generate", &params(2), &visitor, 1)
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            submit_capped(&pool, "generate", &params(2), &visitor, 1)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            crate::ssr::jobs::queued_for_visitors(&pool).await.unwrap(),
            1
        );
    }

    /// A finished generation of `prompt` by `owner`; its id.
    async fn finished(pool: &AnyPool, owner: &Owner, prompt: &str) -> i64 {
        let p = serde_json::json!({"prompt": prompt, "negative": "", "seed": 1, "steps": 2,
            "cfg": 1.0, "frames": 4, "size": 32, "fps": 8.0})
        .to_string();
        let id = submit_capped(pool, "generate", &p, owner, 1000)
            .await
            .unwrap()
            .unwrap();
        let c = take(pool, ALL).await;
        assert_eq!(c.id, id);
        let result = serde_json::json!({"seconds": 1.0, "files": []}).to_string();
        assert!(finish(pool, &c.lease, Outcome::Done(result)).await.unwrap());
        id
    }

    /// Who sees what: a researcher everything not hidden, a visitor their own, an admin all;
    /// `mine`, the prompt search (any case, with LIKE's wildcards taken literally) and the pages.
    #[tokio::test]
    async fn the_gallery_filters_pages_and_hides() {
        let tmp = tempfile::tempdir().unwrap();
        let (pool, u) = super::super::db::researcher_db(tmp.path()).await;
        let other = crate::ssr::auth::create_user(&pool, "o@example.org", "password1", Role::Admin)
            .await
            .unwrap();
        let (me, them) = (Owner::User(u.id), Owner::User(other.id));
        let visitor = Owner::Visitor("a".repeat(64));
        let rose = finished(&pool, &me, "A Red ROSE blooming").await;
        let ice = finished(&pool, &them, "ice melting, 100% done_").await;
        let demo = finished(&pool, &visitor, "a rose from the demo").await;
        let researcher = Viewer {
            owner: me.clone(),
            role: Some(Role::Researcher),
        };
        let admin = Viewer {
            owner: them.clone(),
            role: Some(Role::Admin),
        };
        let guest = Viewer {
            owner: visitor.clone(),
            role: None,
        };
        let ids = |g: GalleryPage| g.items.iter().map(|i| i.id).collect::<Vec<_>>();
        let page = |v: &Viewer, mine: bool, q: &'static str, n: i64| {
            let (pool, v) = (pool.clone(), v.clone());
            async move { gallery(&pool, &v, mine, q, n).await.unwrap() }
        };
        assert_eq!(
            ids(page(&researcher, false, "", 1).await),
            [demo, ice, rose]
        );
        assert_eq!(ids(page(&researcher, true, "", 1).await), [rose]);
        assert_eq!(
            ids(page(&guest, false, "", 1).await),
            [demo],
            "a visitor's own"
        );
        assert_eq!(ids(page(&researcher, false, "rose", 1).await), [demo, rose]);
        assert_eq!(ids(page(&researcher, false, " red rose ", 1).await), [rose]);
        assert_eq!(ids(page(&researcher, false, "100%", 1).await), [ice]);
        assert_eq!(ids(page(&researcher, false, "0%", 1).await), [ice]);
        assert!(ids(page(&researcher, false, "1_0", 1).await).is_empty());
        assert_eq!(ids(page(&researcher, false, "done_", 1).await), [ice]);
        assert!(
            ids(page(&researcher, false, "negative", 1).await).is_empty(),
            "prompts only"
        );
        assert_eq!(ids(page(&guest, false, "rose", 1).await), [demo]);
        // hidden: gone for all but admins, its page too
        assert!(set_hidden(&pool, rose, true).await.unwrap());
        assert!(!set_hidden(&pool, 999, true).await.unwrap());
        assert_eq!(ids(page(&researcher, false, "", 1).await), [demo, ice]);
        let all = page(&admin, false, "", 1).await;
        assert_eq!(all.total, 3);
        assert!(all.items[2].hidden);
        assert!(generation(&pool, rose, &researcher)
            .await
            .unwrap()
            .is_none());
        assert!(
            generation(&pool, rose, &admin)
                .await
                .unwrap()
                .unwrap()
                .hidden
        );
        assert!(generation(&pool, ice, &guest).await.unwrap().is_none());
        let g = generation(&pool, demo, &guest).await.unwrap().unwrap();
        assert_eq!(g.requested_by, VISITOR_NAME);
        // pages of PER_PAGE, newest first; the total counts them all
        for i in 0..PER_PAGE {
            finished(&pool, &me, &format!("tulip {i}")).await;
        }
        let p1 = page(&researcher, false, "", 1).await;
        let p2 = page(&researcher, false, "", 2).await;
        assert_eq!(
            (p1.total, p1.items.len(), p2.items.len()),
            (PER_PAGE + 2, 24, 2)
        );
        assert_eq!(ids(p2), [demo, ice]);
        let t2 = page(&researcher, false, "TULIP", 2).await;
        assert_eq!((t2.total, t2.items.len()), (PER_PAGE, 0));
    }
}
