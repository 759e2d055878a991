//! The HTTP API: Database Lab Engine's clone API (shared/reference/dle-api.md) over
//! [`Engine`], with `Verification-Token` auth on everything but `/healthz` and
//! `/metrics`, and DLE's error shape `{"code", "message", "detail", "hint"}` on every
//! error, unknown paths (404) and wrong methods (405) included. The bodies are
//! [`crate::dle_api`]'s types.

mod branches;
mod observation;
pub mod requests;
pub mod views;

use super::{Engine, EngineError};
use crate::dle_api;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone)]
struct App {
    engine: Engine,
    token: Secret,
}

/// An error in DLE's shape: `{"code", "message", "detail", "hint"}`.
pub struct ApiError {
    status: StatusCode,
    body: dle_api::ApiError,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: String, hint: &str) -> ApiError {
        ApiError {
            status,
            body: dle_api::ApiError {
                code: code.into(),
                message,
                detail: String::new(),
                hint: hint.into(),
            },
        }
    }

    fn bad_request(message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, dle_api::BAD_REQUEST, message, "")
    }
}

impl From<requests::BadBody> for ApiError {
    fn from(e: requests::BadBody) -> Self {
        ApiError::bad_request(e.0)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let (status, code, hint) = match &e {
            EngineError::BadRequest(_) => (StatusCode::BAD_REQUEST, dle_api::BAD_REQUEST, ""),
            EngineError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                dle_api::NOT_FOUND,
                "GET /status lists the clones",
            ),
            EngineError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                dle_api::SERVICE_UNAVAILABLE,
                "try again later or ask the engine's operator to raise the limit",
            ),
            EngineError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                dle_api::INTERNAL_ERROR,
                "the engine's log has the detail",
            ),
        };
        ApiError::new(status, code, crate::error_chain(&e), hint)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Any path the API does not serve: DLE's 404.
async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        dle_api::NOT_FOUND,
        dle_api::NOT_FOUND_MESSAGE.into(),
        "",
    )
}

/// A served path asked with a method it does not take: 405, still with a JSON body.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        dle_api::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
        "see DLE's API reference for the methods of each path",
    )
}

type ApiResult<T = Value> = Result<(StatusCode, Json<T>), ApiError>;

/// The router, ready to serve.
pub fn router(engine: Engine, token: Secret) -> Router {
    let app = App { engine, token };
    let protected = Router::new()
        .route("/status", get(status))
        .route("/snapshots", get(snapshots))
        .route("/clones", get(clones))
        .route("/clone", post(create_clone))
        .route(
            "/clone/{id}",
            get(get_clone).delete(delete_clone).patch(patch_clone),
        )
        .route("/clone/{id}/reset", post(reset_clone))
        .route("/full-refresh", post(refresh))
        .route("/instance/retrieval", get(retrieval))
        .route("/admin/full-refresh", post(refresh))
        .merge(observation::routes())
        .merge(branches::routes())
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize));
    Router::new()
        .route("/healthz", get(healthz).post(healthz))
        .route("/metrics", get(metrics))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

/// Compares in constant time, so response timing does not reveal the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(
    State(app): State<App>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get("Verification-Token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same(given, app.token.expose().as_bytes()) {
        let body =
            json!({"code": dle_api::UNAUTHORIZED, "message": "Check your verification token."});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    next.run(req).await
}

async fn healthz(State(app): State<App>) -> Json<dle_api::Engine> {
    Json(
        app.engine
            .read(|state| views::engine_view(&app.engine, state))
            .await,
    )
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.engine.metrics_text().await,
    )
        .into_response()
}

async fn status(State(app): State<App>) -> ApiResult<dle_api::Instance> {
    let body = app
        .engine
        .read(|state| views::status_view(&app.engine, state))
        .await;
    Ok((StatusCode::OK, Json(body)))
}

/// The refresh part of `/status` on its own (DLE's `/instance/retrieval`).
async fn retrieval(State(app): State<App>) -> ApiResult<dle_api::Retrieving> {
    Ok((StatusCode::OK, Json(views::retrieving_view(&app.engine))))
}

async fn snapshots(State(app): State<App>) -> ApiResult<Vec<dle_api::Snapshot>> {
    let body = app
        .engine
        .read(|state| {
            let mut list: Vec<_> = state.snapshots.iter().collect();
            list.sort_by_key(|s| std::cmp::Reverse(s.created_at));
            list.into_iter()
                .map(|s| views::snapshot_view(&app.engine, state, s))
                .collect()
        })
        .await;
    Ok((StatusCode::OK, Json(body)))
}

async fn clones(State(app): State<App>) -> ApiResult<Vec<dle_api::Clone>> {
    let body = app
        .engine
        .read(|state| {
            state
                .clones
                .values()
                .map(|c| views::clone_view(&app.engine, state, c))
                .collect()
        })
        .await;
    Ok((StatusCode::OK, Json(body)))
}

/// Answers with one clone as the operation left it.
async fn one_clone(
    app: &App,
    status: StatusCode,
    record: super::state::CloneRecord,
) -> ApiResult<dle_api::Clone> {
    let body = app
        .engine
        .read(|state| views::clone_view(&app.engine, state, &record))
        .await;
    Ok((status, Json(body)))
}

async fn create_clone(State(app): State<App>, body: Bytes) -> ApiResult<dle_api::Clone> {
    let req = requests::create(&body)?;
    let record = app.engine.create_clone(req).await?;
    one_clone(&app, StatusCode::CREATED, record).await
}

/// The hot path (clients poll it): one lock, no copy of the state.
async fn get_clone(State(app): State<App>, Path(id): Path<String>) -> ApiResult<dle_api::Clone> {
    let body = app
        .engine
        .read(|state| {
            state
                .clones
                .get(&id)
                .map(|c| views::clone_view(&app.engine, state, c))
        })
        .await
        .ok_or_else(|| EngineError::NotFound(format!("clone {id:?} does not exist")))?;
    Ok((StatusCode::OK, Json(body)))
}

async fn reset_clone(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<dle_api::Clone> {
    let target = requests::reset(&body)?;
    let record = app.engine.reset_clone(&id, target).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn delete_clone(State(app): State<App>, Path(id): Path<String>) -> ApiResult<dle_api::Clone> {
    let record = app.engine.delete_clone(&id, false).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn patch_clone(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<dle_api::Clone> {
    let (protected, minutes) = requests::patch(&body)?;
    let record = app.engine.set_protected(&id, protected, minutes).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn refresh(State(app): State<App>) -> ApiResult<dle_api::ResponseStatus> {
    if app.engine.refresh_status().running {
        return Err(ApiError::bad_request("a refresh is already running".into()));
    }
    let engine = app.engine.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.refresh().await {
            tracing::error!(error = %crate::error_chain(&e), "refresh failed");
        }
    });
    Ok((
        StatusCode::OK,
        Json(dle_api::ResponseStatus {
            status: "OK".into(),
            message: "Full refresh started".into(),
        }),
    ))
}
