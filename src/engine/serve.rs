//! `preflight engine serve`: open the pool, build the first snapshot in the background
//! if there is none, run the expiry and refresh loops, serve the API until SIGTERM,
//! then finish the work in flight and save the state. Clones keep running across a
//! restart and are adopted by the next start.

use super::api::router;
use super::config::EngineConfig;
use super::Engine;
use crate::secret::Secret;
use tokio_util::sync::CancellationToken;

/// Why the engine could not start serving, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the token file {}", path.display())]
    TokenFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the engine needs a verification token of at least 16 characters: set \
         PREFLIGHT_ENGINE_TOKEN or token_file (for example: openssl rand -hex 32)"
    )]
    ShortToken,
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the engine")]
    Open(#[source] super::EngineError),
    #[error("the API server failed")]
    Api(#[source] std::io::Error),
}

/// The verification token: from `token_file`, else `PREFLIGHT_ENGINE_TOKEN`.
pub fn load_token(cfg: &EngineConfig, from_env: Option<Secret>) -> Result<Secret, ServeError> {
    let token = match &cfg.token_file {
        Some(path) => Secret::new(
            std::fs::read_to_string(path)
                .map_err(|source| ServeError::TokenFile {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
        ),
        None => from_env.unwrap_or_else(|| Secret::new("")),
    };
    if token.expose().len() < 16 {
        return Err(ServeError::ShortToken);
    }
    Ok(token)
}

/// Serves until `cancel` fires. `on_listening` gets the bound address (port 0 picks one).
pub async fn serve(
    cfg: EngineConfig,
    token: Secret,
    cancel: CancellationToken,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ServeError> {
    let listen_error = |source| ServeError::Listen {
        addr: cfg.listen.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let engine = Engine::open(cfg).await.map_err(ServeError::Open)?;

    let background = CancellationToken::new();
    spawn_until(&background, first_snapshot_then_refresh(engine.clone()));
    spawn_until(&background, engine.clone().expire_forever());

    on_listening(addr);
    tracing::info!(%addr, "serving the clone API");
    let app = router(engine.clone(), token);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .map_err(ServeError::Api);
    tracing::info!("shutting down: finishing work in flight; clones keep running");
    background.cancel();
    engine.shutdown().await;
    result
}

fn spawn_until(
    token: &CancellationToken,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = token.cancelled() => {}
            _ = work => {}
        }
    });
}

async fn first_snapshot_then_refresh(engine: Engine) {
    if engine.state().await.snapshots.is_empty() {
        if let Err(e) = engine.refresh().await {
            tracing::error!(error = %crate::error_chain(&e), "building the first snapshot failed; POST /admin/full-refresh retries");
        }
    }
    let Some(every) = engine.config().refresh_every else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = engine.refresh().await {
            tracing::error!(error = %crate::error_chain(&e), "scheduled refresh failed");
        }
    }
}
