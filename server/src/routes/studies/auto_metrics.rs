//! Automatic metrics beside the votes: `POST /studies/{id}/metrics` starts the computation in
//! the background (CLIPSIM and metamorphic score of the normalised stimuli, per condition) and
//! returns at once; the cached values (`study_metrics`) appear on the results page and in the
//! analysis JSON. Page views only read the cache.
use axum::{
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use magictime_app::ssr::{
    studies::{
        auto_metrics::{self, ConditionMetrics, MetricsView},
        store,
    },
    ServerState,
};
use serde_json::json;

use super::{back, esc, owned, Fail};

pub(super) async fn view(state: &ServerState, study: i64) -> Result<MetricsView, Fail> {
    Ok(auto_metrics::view(&state.pool, study, state.scorer.available().err()).await?)
}

pub(super) async fn compute(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    owned(&state, &headers, id).await?;
    state
        .scorer
        .available()
        .map_err(|why| Fail(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let (items, key) = auto_metrics::items(&state.pool, id).await?;
    if items.is_empty() {
        return Err(super::bad("the study has no stimuli to score yet"));
    }
    let started = auto_metrics::begin(&state.pool, id, &key).await?;
    if started {
        tokio::spawn(run(state.clone(), id, items));
    }
    if headers
        .get(header::ACCEPT)
        .is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("json")))
    {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "status": "running", "started": started })),
        )
            .into_response());
    }
    Ok(back(id))
}

async fn run(state: ServerState, id: i64, items: Vec<auto_metrics::Item>) {
    let t0 = std::time::Instant::now();
    let dir = store::media_dir(&state.data_dir, id);
    let videos: Vec<_> = items
        .iter()
        .map(|(m, _, p)| (dir.join(format!("{m}.mp4")), p.clone()))
        .collect();
    let scorer = state.scorer.clone();
    let result = match tokio::task::spawn_blocking(move || scorer.score(&videos)).await {
        Ok(Ok((name, scores))) => Ok((name, auto_metrics::aggregate(&items, &scores))),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(format!("the metrics computation crashed: {e}")),
    };
    match &result {
        Ok(_) => tracing::info!(
            study = id,
            secs = t0.elapsed().as_secs_f64(),
            "automatic metrics computed"
        ),
        Err(e) => tracing::warn!(study = id, "automatic metrics failed: {e}"),
    }
    if let Err(e) = auto_metrics::finish(&state.pool, id, result).await {
        tracing::error!(study = id, "automatic metrics: {e}");
    }
}

/// The values of one condition, for the win-rate tables.
pub(super) fn of<'a>(m: &'a MetricsView, condition: &str) -> Option<&'a ConditionMetrics> {
    m.conditions.iter().find(|c| c.condition == condition)
}

/// The results page's block: status, embedder, per-condition values, the compute button.
pub(super) fn section(id: i64, m: &MetricsView, hidden: &str) -> String {
    let button = |label: &str| {
        format!(
            r#"<form method="post" action="/studies/{id}/metrics" class="inline">{hidden}<button type="submit">{label}</button></form>"#
        )
    };
    let mut b = String::from(
        r#"<section class="auto-metrics" data-testid="auto-metrics"><h3>Automatic metrics</h3>"#,
    );
    match m.status.as_str() {
        "not_available" => {
            b += &format!(
                "<p>Automatic metrics: not available — {}</p>",
                esc(m.error.as_deref().unwrap_or("no embedder"))
            );
            return b + "</section>";
        }
        "not_computed" => {
            b += "<p>CLIPSIM and the metamorphic score of the stimuli have not been computed yet.</p>";
            b += &button("Compute automatic metrics");
            return b + "</section>";
        }
        "running" => b += "<p role=\"status\">Computing… (reload the page to see the values)</p>",
        "failed" => {
            b += &format!(
                "<p role=\"alert\">The last computation failed: {}</p>",
                esc(m.error.as_deref().unwrap_or(""))
            )
        }
        _ => {}
    }
    if !m.conditions.is_empty() {
        let name = m.embedder.as_deref().unwrap_or("?");
        b += &format!(
            "<p>Computed from the study's normalised stimuli with <strong data-testid=\"embedder\">{}</strong>{} on {}. These come from the CLIP this server is configured with, not from the large CLIP the paper's numbers use: compare conditions with each other, not with published values.{}</p>",
            esc(name),
            if name.contains("random") {
                " — random weights: the values only show that the pipeline runs and say nothing about quality"
            } else {
                ""
            },
            esc(m.computed_at.as_deref().unwrap_or("")),
            if m.stale {
                " <strong>Out of date: the stimuli changed since.</strong>"
            } else {
                ""
            }
        );
        b += "<table><thead><tr><th>Condition</th><th>Videos</th><th>CLIPSIM (×100)</th><th>Metamorphic score</th></tr></thead><tbody>";
        for c in &m.conditions {
            b += &format!(
                "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.3}</td></tr>",
                esc(&c.condition),
                c.videos,
                c.clipsim_x100,
                c.metamorphic
            );
        }
        b += "</tbody></table>";
    }
    if m.status != "running" {
        b += &button("Recompute automatic metrics");
    }
    b + "</section>"
}
