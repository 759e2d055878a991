//! DLE 4's snapshot and branch routes over [`crate::engine::branches`]: snapshots of
//! clones, new snapshots of the source, deleting snapshots, and branches with their logs.

use super::requests::parse;
use super::{views, ApiError, ApiResult, App};
use crate::dle_api::{self, blank};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/snapshot", post(create_snapshot))
        .route("/snapshot/clone", post(snapshot_clone))
        .route(
            "/snapshot/{id}",
            get(get_snapshot)
                .delete(delete_snapshot)
                .patch(patch_snapshot),
        )
        .route("/branches", get(branches))
        .route("/branch", post(create_branch))
        .route("/branch/snapshot", post(branch_snapshot))
        .route("/branch/snapshot/{id}", get(snapshot_details))
        .route("/branch/{name}", delete(delete_branch).patch(patch_branch))
        .route("/branch/{name}/log", get(branch_log))
}

fn done(message: String) -> ApiResult<dle_api::ResponseStatus> {
    Ok((
        StatusCode::OK,
        Json(dle_api::ResponseStatus {
            status: "OK".into(),
            message,
        }),
    ))
}

async fn snapshot_json(app: &App, id: &str) -> Result<dle_api::Snapshot, ApiError> {
    app.engine
        .read(|state| {
            state
                .snapshot(id)
                .map(|s| views::snapshot_view(&app.engine, state, s))
        })
        .await
        .ok_or_else(|| {
            crate::engine::EngineError::NotFound(format!("snapshot {id:?} does not exist")).into()
        })
}

/// A new snapshot of the source (DLE: of the pool's current state), built now.
async fn create_snapshot(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::Snapshot> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        parse::<dle_api::SnapshotCreateRequest>(&body)?;
    }
    let record = app.engine.refresh().await?;
    Ok((StatusCode::OK, Json(snapshot_json(&app, &record.id).await?)))
}

async fn clone_snapshot(app: &App, body: &[u8]) -> Result<String, ApiError> {
    let req: dle_api::SnapshotCloneCreateRequest = parse(body)?;
    let clone_id =
        blank(&req.clone_id).ok_or_else(|| ApiError::bad_request("cloneID is required".into()))?;
    Ok(app.engine.snapshot_clone(clone_id, &req.message).await?.id)
}

async fn snapshot_clone(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::Snapshot> {
    let id = clone_snapshot(&app, &body).await?;
    Ok((StatusCode::OK, Json(snapshot_json(&app, &id).await?)))
}

async fn branch_snapshot(
    State(app): State<App>,
    body: Bytes,
) -> ApiResult<dle_api::SnapshotResponse> {
    let snapshot_id = clone_snapshot(&app, &body).await?;
    Ok((
        StatusCode::OK,
        Json(dle_api::SnapshotResponse { snapshot_id }),
    ))
}

async fn get_snapshot(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<dle_api::Snapshot> {
    Ok((StatusCode::OK, Json(snapshot_json(&app, &id).await?)))
}

async fn delete_snapshot(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<dle_api::ResponseStatus> {
    app.engine.delete_snapshot(&id).await?;
    done(format!("Deleted snapshot {id}"))
}

async fn snapshot_details(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<dle_api::SnapshotDetails> {
    Ok((
        StatusCode::OK,
        Json(app.engine.snapshot_details(&id).await?),
    ))
}

async fn patch_snapshot(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<dle_api::Snapshot> {
    let update: dle_api::RetentionUpdate = parse(&body)?;
    app.engine.update_snapshot(&id, &update).await?;
    Ok((StatusCode::OK, Json(snapshot_json(&app, &id).await?)))
}

async fn patch_branch(
    State(app): State<App>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<dle_api::UpdateBranchResponse> {
    let update: dle_api::RetentionUpdate = parse(&body)?;
    Ok((
        StatusCode::OK,
        Json(app.engine.update_branch(&name, &update).await?),
    ))
}

async fn branches(State(app): State<App>) -> ApiResult<Vec<dle_api::BranchView>> {
    Ok((StatusCode::OK, Json(app.engine.branches().await)))
}

async fn create_branch(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::Branch> {
    let req: dle_api::BranchCreateRequest = parse(&body)?;
    let name = blank(&req.branch_name)
        .ok_or_else(|| ApiError::bad_request("branchName is required".into()))?;
    let name = app
        .engine
        .create_branch(name, blank(&req.base_branch), blank(&req.snapshot_id))
        .await?;
    Ok((StatusCode::OK, Json(dle_api::Branch { name })))
}

async fn delete_branch(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<dle_api::ResponseStatus> {
    app.engine.delete_branch(&name).await?;
    done(format!("Deleted branch {name}"))
}

async fn branch_log(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Vec<dle_api::SnapshotDetails>> {
    Ok((StatusCode::OK, Json(app.engine.branch_log(&name).await?)))
}
