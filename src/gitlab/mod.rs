//! Talking to GitLab: posting the public summary on the merge request (one note per MR,
//! found again by a hidden marker and edited in place on the next run, only ever a note
//! the token's own user wrote) and reading the MR's code for [`crate::source`].
//!
//! All requests go through [`http::GitlabHttp`] (timeouts, retries with `Retry-After`).
//! The notes API sits behind the narrow [`NoteApi`] trait; [`client::GitlabNotes`]
//! implements it, and the tests run it against a recording GitLab double.

pub mod client;
pub mod http;

use crate::report::NOTE_MARKER;
use async_trait::async_trait;
use std::time::Duration;
use thiserror::Error;

/// A note's author as the API shows it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Author {
    pub id: u64,
}

/// A note as the API lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Note {
    pub id: u64,
    pub body: String,
    #[serde(default)]
    pub system: bool,
    pub author: Option<Author>,
}

#[derive(Debug, Error)]
pub enum GitlabError {
    #[error("GitLab at {url} is not reachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("GitLab at {url} did not answer {what} within {after:?} (gitlab.request_timeout)")]
    Timeout {
        url: String,
        what: String,
        after: Duration,
    },
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

#[async_trait]
pub trait NoteApi: Send + Sync {
    /// The id of the token's own user.
    async fn current_user(&self) -> Result<u64, GitlabError>;
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

/// Edits the newest note that carries the marker and that the token's own user wrote,
/// or creates one. A note someone else wrote is never edited, marker or not: anyone can
/// paste the marker into a comment.
pub async fn upsert_note(api: &dyn NoteApi, body: &str) -> Result<NoteAction, GitlabError> {
    let me = api.current_user().await?;
    let notes = api.list_notes().await?;
    let ours = notes
        .iter()
        .filter(|n| !n.system && n.body.contains(NOTE_MARKER))
        .filter(|n| n.author.as_ref().is_some_and(|a| a.id == me))
        .max_by_key(|n| n.id);
    match ours {
        Some(note) => {
            api.edit_note(note.id, body).await?;
            Ok(NoteAction::Edited(note.id))
        }
        None => api.create_note(body).await.map(NoteAction::Created),
    }
}
