//! Talking to GitLab: the public summary on the merge request (one note per MR, found
//! again by a hidden marker and edited in place, only ever a note the token's own user
//! wrote and never one someone replied to), a commit status on the head commit, a label
//! on the MR, reading the MR's code for [`crate::source`], and the job log's sections
//! ([`log`]).
//!
//! All requests go through [`http::GitlabHttp`] (timeouts, retries with `Retry-After`).
//! Notes, statuses and labels sit behind narrow traits ([`NoteApi`], [`StatusApi`],
//! [`LabelApi`]); [`client::GitlabMr`] implements them, and the tests run it against a
//! recording GitLab double.

pub mod client;
pub mod http;
pub mod log;

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
    /// `DiscussionNote` once someone replied to it (it became a thread); null before.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub resolvable: bool,
}

impl Note {
    /// Someone replied to it: editing it now would rewrite the start of a conversation.
    pub fn is_discussion(&self) -> bool {
        self.kind.as_deref() == Some("DiscussionNote") || self.resolvable
    }
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
    /// One note, `None` when it is gone (deleted).
    async fn get_note(&self, id: u64) -> Result<Option<Note>, GitlabError>;
    async fn create_note(&self, body: &str) -> Result<u64, GitlabError>;
    async fn edit_note(&self, id: u64, body: &str) -> Result<(), GitlabError>;
}

/// A commit status's state, as GitLab names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Running,
    Success,
    Failed,
    Canceled,
}

impl StatusState {
    pub fn name(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Running => "running",
            StatusState::Success => "success",
            StatusState::Failed => "failed",
            StatusState::Canceled => "canceled",
        }
    }
}

/// One commit status: `name` on the head commit, linking to the protected job.
#[derive(Debug, Clone)]
pub struct CommitStatus<'a> {
    pub sha: &'a str,
    pub name: &'a str,
    pub state: StatusState,
    pub description: &'a str,
    pub target_url: Option<&'a str>,
}

#[async_trait]
pub trait StatusApi: Send + Sync {
    async fn set_status(&self, status: &CommitStatus<'_>) -> Result<(), GitlabError>;
}

#[async_trait]
pub trait LabelApi: Send + Sync {
    /// Adds `add` to the MR and removes `remove` (labels it does not carry are ignored).
    async fn relabel(&self, add: &[&str], remove: &[&str]) -> Result<(), GitlabError>;
}

/// What [`upsert_note`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAction {
    Created(u64),
    Edited(u64),
}

/// The newest note that carries the marker and that the token's own user wrote. A note
/// someone else wrote is never ours, marker or not: anyone can paste the marker into a
/// comment.
pub async fn find_ours(api: &dyn NoteApi) -> Result<Option<Note>, GitlabError> {
    let me = api.current_user().await?;
    let notes = api.list_notes().await?;
    Ok(notes
        .into_iter()
        .filter(|n| !n.system && n.body.contains(NOTE_MARKER))
        .filter(|n| n.author.as_ref().is_some_and(|a| a.id == me))
        .max_by_key(|n| n.id))
}

/// Edits `ours` unless someone replied to it (then a new note tells the next part of
/// the story below the conversation), or creates a note when there is none.
pub async fn place_note(
    api: &dyn NoteApi,
    ours: Option<&Note>,
    body: &str,
) -> Result<NoteAction, GitlabError> {
    match ours.filter(|n| !n.is_discussion()) {
        Some(note) => {
            api.edit_note(note.id, body).await?;
            Ok(NoteAction::Edited(note.id))
        }
        None => api.create_note(body).await.map(NoteAction::Created),
    }
}

/// [`find_ours`] then [`place_note`].
pub async fn upsert_note(api: &dyn NoteApi, body: &str) -> Result<NoteAction, GitlabError> {
    let ours = find_ours(api).await?;
    place_note(api, ours.as_ref(), body).await
}

/// Replaces the run's own note `id` (its placeholder) with `body`, read afresh: if it
/// became a discussion meanwhile, or was deleted, a new note is made instead.
pub async fn finish_note(
    api: &dyn NoteApi,
    id: u64,
    body: &str,
) -> Result<NoteAction, GitlabError> {
    let note = api.get_note(id).await?;
    place_note(api, note.as_ref(), body).await
}
