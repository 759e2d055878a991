//! Posting the public summary on the merge request: one note per MR, found again by a
//! hidden marker and edited in place on the next run. The GitLab API sits behind the
//! narrow [`NoteApi`] trait; [`client::GitlabNotes`] implements it with the `gitlab`
//! crate, and the tests run it against a recording GitLab double.

pub mod client;

use crate::report::NOTE_MARKER;
use async_trait::async_trait;
use thiserror::Error;

/// A note as the API lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Note {
    pub id: u64,
    pub body: String,
    #[serde(default)]
    pub system: bool,
}

#[derive(Debug, Error)]
pub enum GitlabError {
    #[error("GitLab at {url} is not reachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("GitLab at {url} refused the token (HTTP 401); check that PREFLIGHT_GITLAB_TOKEN is valid and has the api scope")]
    Unauthorized { url: String },
    #[error("GitLab at {url} does not know {what} (HTTP 404); check CI_MERGE_REQUEST_PROJECT_ID and CI_MERGE_REQUEST_IID, and that the token's user can see the project")]
    NotFound { url: String, what: String },
    #[error("GitLab at {url} answered HTTP {status} to {what}: {message}")]
    Status {
        url: String,
        status: u16,
        what: String,
        message: String,
    },
}

impl GitlabError {
    /// Worth another try: rate limited or a server-side error.
    pub fn is_transient(&self) -> bool {
        match self {
            GitlabError::Status { status, .. } => *status == 429 || *status >= 500,
            GitlabError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

#[async_trait]
pub trait NoteApi: Send + Sync {
    /// Every note on the MR (all pages).
    async fn list_notes(&self) -> Result<Vec<Note>, GitlabError>;
    async fn create_note(&self, body: &str) -> Result<u64, GitlabError>;
    async fn edit_note(&self, id: u64, body: &str) -> Result<(), GitlabError>;
}

/// What [`upsert_note`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAction {
    Created(u64),
    Edited(u64),
}

/// Retries transient failures (429, 5xx, connection) a few times with backoff.
async fn retry<T, F, Fut>(mut call: F) -> Result<T, GitlabError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GitlabError>>,
{
    let mut delay = std::time::Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < 4 => {
                tracing::warn!("GitLab: {e}; trying again in {delay:?}");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Edits the newest note carrying the marker, or creates one.
pub async fn upsert_note(api: &dyn NoteApi, body: &str) -> Result<NoteAction, GitlabError> {
    let notes = retry(|| api.list_notes()).await?;
    let ours = notes
        .iter()
        .filter(|n| !n.system && n.body.contains(NOTE_MARKER))
        .max_by_key(|n| n.id);
    match ours {
        Some(note) => {
            retry(|| api.edit_note(note.id, body)).await?;
            Ok(NoteAction::Edited(note.id))
        }
        None => retry(|| api.create_note(body))
            .await
            .map(NoteAction::Created),
    }
}
