//! Adding a video to a study: normalised by ffmpeg into the study's media folder (the design's
//! fps and size, so that stimuli differ only in content) and recorded with its tags. Folder
//! imports, uploads, the gallery's import and "make a study from these" all come through
//! [`add_video`]; a finished generation through [`add_generated`].
use std::path::PathBuf;

use super::store::{self, StudyError, StudyRow};
use crate::{ssr::ServerState, types::GenerateParams};

/// Normalises `src` into study `st`'s media folder and records it as a stimulus of `condition`
/// and `prompt` (`degraded`: an attention check's degraded copy); `source` names where it came
/// from (messages, the stimuli table). A video ffmpeg refuses is a [`StudyError::Invalid`].
pub async fn add_video(
    state: &ServerState,
    st: &StudyRow,
    src: PathBuf,
    condition: &str,
    prompt: &str,
    degraded: bool,
    source: &str,
) -> Result<(), StudyError> {
    if condition.trim().is_empty() || prompt.trim().is_empty() {
        return Err(StudyError::Invalid(format!(
            "{source}: condition and prompt are required"
        )));
    }
    let dir = store::media_dir(&state.data_dir, st.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| StudyError::Db(sqlx::Error::Io(e)))?;
    let media_id = crate::ssr::cookies::random_token()[..24].to_owned();
    let dst = dir.join(format!("{media_id}.mp4"));
    let (d, media) = (st.design.clone(), state.media.clone());
    let dst2 = dst.clone();
    let info = tokio::task::spawn_blocking(move || {
        media.normalize(&src, &dst2, d.fps, (d.width, d.height))
    })
    .await
    .map_err(|e| StudyError::Internal(e.to_string()))?
    .map_err(|e| StudyError::Invalid(format!("{source}: {e}")))?;
    if let Err(e) = store::add_stimulus(
        &state.pool,
        st.id,
        &media_id,
        condition,
        prompt,
        degraded,
        source,
        &info,
    )
    .await
    {
        let _ = tokio::fs::remove_file(&dst).await;
        return Err(e);
    }
    Ok(())
}

/// A finished generation `job` as a stimulus of study `st`, with its prompt; `condition`, or by
/// default the description of its model and adapters. Returns the condition and the prompt.
pub async fn add_generated(
    state: &ServerState,
    st: &StudyRow,
    job: i64,
    condition: Option<&str>,
) -> Result<(String, String), StudyError> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT kind, status, params FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_optional(&state.pool)
            .await?;
    let Some((kind, status, params)) = row else {
        return Err(StudyError::NoGeneration(job));
    };
    if kind != "generate" || status != "done" {
        return Err(StudyError::Invalid(format!(
            "job {job} is not a finished generation ({kind}, {status})"
        )));
    }
    let p: GenerateParams = serde_json::from_str(&params)
        .map_err(|e| StudyError::Invalid(format!("job {job}: unreadable parameters: {e}")))?;
    let condition = condition
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| state.generator.describe(&p));
    let src = state.data_dir.join("generated").join(format!("{job}.mp4"));
    if !src.is_file() {
        return Err(StudyError::Invalid(format!("job {job}: its video is gone")));
    }
    let source = format!("generated/{job}.mp4");
    add_video(state, st, src, &condition, &p.prompt, false, &source).await?;
    Ok((condition, p.prompt))
}
