//! The clone engine client of `preflight run` against an engine that misbehaves the
//! ways real ones do: answers 503 to the first create (retried), then never gets the
//! clone ready (the client gives up at its deadline, naming the engine's last status
//! message, after polling fast at first), or loses the clone right after accepting it (the
//! client stops at the first 404 and says so). The double answers in DLE's documented
//! shapes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use preflight::clone::dle::DleEngine;
use preflight::clone::{CloneEngine, CloneError, CloneRequest};
use preflight::secret::Secret;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counts {
    posts: AtomicUsize,
    gets: AtomicUsize,
}

async fn create(State(c): State<Arc<Counts>>) -> (StatusCode, Json<serde_json::Value>) {
    if c.posts.fetch_add(1, Ordering::SeqCst) == 0 {
        let body = json!({"code": "INTERNAL_ERROR", "message": "busy", "detail": "", "hint": ""});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    (
        StatusCode::CREATED,
        Json(
            json!({"id": "slow", "status": {"code": "CREATING", "message": "Clone is being created."}}),
        ),
    )
}

async fn poll(State(c): State<Arc<Counts>>) -> Json<serde_json::Value> {
    c.gets.fetch_add(1, Ordering::SeqCst);
    Json(
        json!({"id": "slow", "status": {"code": "CREATING", "message": "Waiting for the snapshot to be mounted"}, "db": {"host": "", "port": ""}}),
    )
}

fn request() -> CloneRequest {
    CloneRequest {
        id: "slow".into(),
        db_name: "app".into(),
        username: "preflight".into(),
        password: Secret::generate(32),
        restricted: true,
        snapshot: None,
    }
}

#[tokio::test]
async fn create_retries_transient_errors_polls_fast_and_names_the_last_status_at_its_deadline() {
    let counts = Arc::new(Counts::default());
    let app = Router::new()
        .route("/clone", post(create))
        .route("/clone/{id}", get(poll))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let engine = DleEngine::new(url.parse().unwrap(), Secret::new("t0ken-t0ken-t0ken"));
    let req = request();
    let started = Instant::now();
    let err = engine
        .create(&req, Duration::from_secs(2))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(
        counts.posts.load(Ordering::SeqCst),
        2,
        "the 503 was retried once"
    );
    match &err {
        CloneError::Timeout { last_status, .. } => {
            assert!(
                last_status.contains("Waiting for the snapshot to be mounted"),
                "{err}"
            )
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(
        err.to_string().contains("raise engine.ready_timeout"),
        "{err}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "the deadline holds: {waited:?}"
    );
    assert!(
        counts.gets.load(Ordering::SeqCst) >= 8,
        "polls fast at first: {} polls",
        counts.gets.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_clone_the_engine_loses_after_accepting_it_ends_the_wait_at_once() {
    let counts = Arc::new(Counts::default());
    let gone = |State(c): State<Arc<Counts>>| async move {
        c.gets.fetch_add(1, Ordering::SeqCst);
        let body =
            json!({"code": "NOT_FOUND", "message": "clone not found", "detail": "", "hint": ""});
        (StatusCode::NOT_FOUND, Json(body))
    };
    let app = Router::new()
        .route("/clone", post(create))
        .route("/clone/{id}", get(gone))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    counts.posts.store(1, Ordering::SeqCst); // no 503 this time

    let engine = DleEngine::new(url.parse().unwrap(), Secret::new("t0ken-t0ken-t0ken"));
    let req = request();
    let err = engine
        .create(&req, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, CloneError::Fatal { .. }), "{err}");
    assert!(
        err.to_string().contains("no longer knows this clone"),
        "{err}"
    );
    assert_eq!(counts.gets.load(Ordering::SeqCst), 1, "one 404 is enough");
}
