//! Clones: the [`CloneEngine`] trait every engine implements, with two engines behind
//! it: [`dle::DleEngine`], a client for the Database Lab clone API (used with Database
//! Lab Engine or `preflight engine serve`), and [`builtin::BuiltinEngine`], the same
//! engine called in-process for `demo` and runs without an engine URL.

pub mod builtin;
pub mod dle;

use crate::secret::Secret;
use async_trait::async_trait;
use std::time::Duration;
use thiserror::Error;

/// What a run asks of an engine.
#[derive(Debug, Clone)]
pub struct CloneRequest {
    pub id: String,
    pub db_name: String,
    pub username: String,
    pub password: Secret,
    /// A non-superuser that owns the database and its objects.
    pub restricted: bool,
    pub snapshot: Option<String>,
}

pub use crate::model::clone::CloneInfo;

#[derive(Debug, Error)]
pub enum CloneError {
    #[error("the clone engine at {url} is not reachable: {reason}; check that it runs and that PREFLIGHT_ENGINE_URL is right")]
    Unreachable { url: String, reason: String },
    #[error("the clone engine rejected {what} with HTTP {status} ({code}): {message}")]
    Rejected {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("clone {id} failed to start (status FATAL): {message}")]
    Fatal { id: String, message: String },
    #[error("clone {id} was not ready after {waited:?}; the engine's last status: {last_status}; raise engine.ready_timeout or check the engine's load")]
    Timeout {
        id: String,
        waited: Duration,
        last_status: String,
    },
    #[error("clone {id} was not fully removed: {message}; the engine keeps it FATAL, holding its port, and deletes it again until nothing is left")]
    Leftover { id: String, message: String },
    #[error("clone {id} was still being deleted after {waited:?}; check the engine's log")]
    StillDeleting { id: String, waited: Duration },
    #[error("the built-in engine failed to {action}: {reason}")]
    Builtin { action: String, reason: String },
}

impl CloneError {
    pub(crate) fn builtin(action: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        CloneError::Builtin {
            action: action.into(),
            reason: reason.to_string(),
        }
    }
}

/// How long a destroy waits for the engine to finish removing the clone.
pub const DESTROY_WAIT: Duration = Duration::from_secs(45);

#[async_trait]
pub trait CloneEngine: Send + Sync {
    /// A short description for logs ("built-in engine in /var/lib/...", "DLE at ...").
    fn describe(&self) -> String;
    /// Creates a clone and waits until it accepts connections, at most `deadline`.
    async fn create(&self, req: &CloneRequest, deadline: Duration)
        -> Result<CloneInfo, CloneError>;
    /// Destroys a clone and waits until the engine has removed it; an unknown id counts
    /// as destroyed; a clone the engine could not wholly remove (a process of it
    /// survived, its storage stayed) is [`CloneError::Leftover`].
    async fn destroy(&self, id: &str) -> Result<(), CloneError>;
}
