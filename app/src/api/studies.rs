//! Server functions of the studies list page. The study pages themselves (design, stimuli,
//! results, participant runs) are server-rendered axum routes (`server/src/routes/studies.rs`):
//! their statistics and plots stay on the server and out of the WASM bundle.
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

/// One study as the list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub kind: String,
    pub participants: i64,
    pub completed: i64,
    pub slug: String,
}

/// The caller's studies (admins: every study).
#[server(prefix = "/api", endpoint = "studies", input = GetUrl)]
pub async fn list_studies() -> Result<Vec<StudySummary>, ServerFnError> {
    use crate::{
        ssr::{auth, studies::store},
        types::Role,
    };
    let state = crate::ssr::state()?;
    let user = auth::require_role(Role::Researcher).await?;
    let owner = (user.role != Role::Admin).then_some(user.id);
    let studies = store::list(&state.pool, owner)
        .await
        .map_err(auth::internal)?;
    let mut out = vec![];
    for s in studies {
        let (participants, completed): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(completed_at) FROM participants WHERE study_id = $1",
        )
        .bind(s.id)
        .fetch_one(&state.pool)
        .await
        .map_err(auth::internal)?;
        out.push(StudySummary {
            id: s.id,
            title: s.title,
            status: s.status,
            kind: serde_json::to_value(s.design.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            participants,
            completed,
            slug: s.slug,
        });
    }
    Ok(out)
}
