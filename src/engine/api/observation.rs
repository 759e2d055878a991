//! DLE's observation routes over [`crate::engine::observation`]: start and stop answer
//! the session, the summary its `SummaryArtifact`, and the download one artifact as JSON.

use super::requests::parse;
use super::{ApiError, ApiResult, App};
use crate::dle_api;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/observation/start", post(start))
        .route("/observation/stop", post(stop))
        .route("/observation/summary/{clone_id}/{session_id}", get(summary))
        .route("/observation/download", get(download))
}

async fn start(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::ObservationSession> {
    let req: dle_api::StartObservationRequest = parse(&body)?;
    Ok((
        StatusCode::OK,
        Json(app.engine.start_observation(req).await?),
    ))
}

async fn stop(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::ObservationSession> {
    let req: dle_api::StopObservationRequest = parse(&body)?;
    Ok((
        StatusCode::OK,
        Json(app.engine.stop_observation(req).await?),
    ))
}

fn session_number(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid session_id: {text:?}")))
}

async fn summary(
    State(app): State<App>,
    Path((clone_id, session_id)): Path<(String, String)>,
) -> ApiResult<dle_api::SummaryArtifact> {
    let session_id = session_number(&session_id)?;
    let summary = app
        .engine
        .observation_summary(&clone_id, session_id)
        .await?;
    Ok((StatusCode::OK, Json(summary)))
}

#[derive(Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    clone_id: String,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    artifact_type: String,
}

async fn download(
    State(app): State<App>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let session_id = session_number(&q.session_id)?;
    let json = app
        .engine
        .observation_artifact(&q.clone_id, session_id, &q.artifact_type)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}
