//! Posting the public summary on the MR. A hanging GitLab must not keep a cancelled
//! job alive: once the job is cancelled, posting gets [`CANCEL_GRACE`] more, then is
//! abandoned (the note from the previous run stays as it was).

use super::error::RunError;
use crate::config::{Plan, Publish};
use crate::gitlab::{client::GitlabNotes, upsert_note, NoteAction};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long posting may go on after the job is cancelled.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

async fn post(plan: &Plan, note: &str) -> Result<(), RunError> {
    let Publish::GitLab(target) = &plan.publish else {
        return Ok(());
    };
    let infra = |e: crate::gitlab::GitlabError| RunError::Infrastructure(e.to_string());
    let api = GitlabNotes::new(target, plan.gitlab_policy).map_err(infra)?;
    match upsert_note(&api, note).await.map_err(infra)? {
        NoteAction::Created(id) => tracing::info!("posted note {id} on !{}", target.mr_iid),
        NoteAction::Edited(id) => tracing::info!("updated note {id} on !{}", target.mr_iid),
    }
    Ok(())
}

/// Posts `note` where the plan says, racing cancellation (plus [`CANCEL_GRACE`]).
pub async fn publish(plan: &Plan, note: &str, cancel: &CancellationToken) -> Result<(), RunError> {
    let deadline = async {
        cancel.cancelled().await;
        tokio::time::sleep(CANCEL_GRACE).await;
    };
    tokio::select! {
        result = post(plan, note) => result,
        () = deadline => Err(RunError::Cancelled),
    }
}
