//! The HTTP API: Database Lab Engine's clone API (shared/reference/dle-api.md) over
//! [`Engine`], with `Verification-Token` auth on everything but `/healthz` and
//! `/metrics`, and DLE's error shape `{"code", "message", "detail", "hint"}`.

pub mod requests;
pub mod views;

use super::{Engine, EngineError};
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

/// An error in DLE's shape.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: &'static str,
}

impl ApiError {
    fn bad_request(message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_REQUEST",
            message,
            hint: "",
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let (status, code, hint) = match &e {
            EngineError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", ""),
            EngineError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "GET /status lists the clones",
            ),
            EngineError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "try again later or ask the engine's operator to raise the limit",
            ),
            EngineError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "the engine's log has the detail",
            ),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
            hint,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "detail": "",
            "hint": self.hint,
        });
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

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
        .route("/admin/full-refresh", post(refresh))
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(protected)
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
        let body = json!({"code": "UNAUTHORIZED", "message": "Check your verification token."});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    next.run(req).await
}

async fn healthz(State(app): State<App>) -> Json<Value> {
    Json(
        json!({"version": env!("CARGO_PKG_VERSION"), "edition": "preflight", "startedAt": app.engine.started_at()}),
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

async fn status(State(app): State<App>) -> ApiResult {
    let body = app
        .engine
        .read(|state| views::status_view(&app.engine, state))
        .await;
    Ok((StatusCode::OK, Json(body)))
}

async fn snapshots(State(app): State<App>) -> ApiResult {
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
    Ok((StatusCode::OK, Json(Value::Array(body))))
}

async fn clones(State(app): State<App>) -> ApiResult {
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
    Ok((StatusCode::OK, Json(Value::Array(body))))
}

/// Answers with one clone as the operation left it.
async fn one_clone(app: &App, status: StatusCode, record: super::state::CloneRecord) -> ApiResult {
    let body = app
        .engine
        .read(|state| views::clone_view(&app.engine, state, &record))
        .await;
    Ok((status, Json(body)))
}

async fn create_clone(State(app): State<App>, body: Bytes) -> ApiResult {
    let req = requests::create(&body).map_err(ApiError::bad_request)?;
    let record = app.engine.create_clone(req).await?;
    one_clone(&app, StatusCode::CREATED, record).await
}

/// The hot path (clients poll it): one lock, no copy of the state.
async fn get_clone(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
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

async fn reset_clone(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let target = requests::reset(&body).map_err(ApiError::bad_request)?;
    let record = app.engine.reset_clone(&id, target).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn delete_clone(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let record = app.engine.delete_clone(&id, false).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn patch_clone(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let protected = requests::patch(&body).map_err(ApiError::bad_request)?;
    let record = app.engine.set_protected(&id, protected).await?;
    one_clone(&app, StatusCode::OK, record).await
}

async fn refresh(State(app): State<App>) -> ApiResult {
    if app.engine.refresh_status().running {
        return Err(ApiError::bad_request("a refresh is already running".into()));
    }
    let engine = app.engine.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.refresh().await {
            tracing::error!(error = %e, "refresh failed");
        }
    });
    Ok((
        StatusCode::OK,
        Json(json!({"status": "OK", "message": "Full refresh started"})),
    ))
}
