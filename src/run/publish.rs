//! The merge request's side of a run. At the start: a placeholder note ("rehearsing N
//! migrations ..."), in place of the previous run's note unless someone replied to it,
//! and a `pending` commit status on the head commit. At the end: the final note in place
//! of the placeholder (a new note if the placeholder became a discussion meanwhile), the
//! status's final state and the label, both from how the run ended (the others removed).
//!
//! The previous note's history lines are read at the start and carried to the end, so
//! the note keeps the MR's story. A failing status or label is logged, not fatal: the
//! note is what matters. A hanging GitLab must not keep a cancelled job alive: once the
//! job is cancelled, GitLab gets [`CANCEL_GRACE`] more, then is abandoned.

use super::error::RunError;
use crate::config::{GitlabTarget, Plan, Publish};
use crate::gitlab::client::GitlabMr;
use crate::gitlab::{
    find_ours, finish_note, place_note, upsert_note, CommitStatus, GitlabError, LabelApi,
    NoteAction, StatusApi, StatusState,
};
use crate::model::outcome::{self, Ending, Label};
use crate::report::history::{self, PastRun};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long talking to GitLab may go on after the job is cancelled.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The MR as this run talks to it.
pub struct MrLoop {
    api: GitlabMr,
    target: GitlabTarget,
    /// The note this run replaces: the previous run's, when no one replied to it.
    previous: Option<u64>,
    /// The placeholder note, once posted.
    placeholder: Option<u64>,
    /// Earlier runs, newest first, from the note this run replaces.
    pub history: Vec<PastRun>,
    /// The MR's notes could be read at the start (else the end looks again).
    read: bool,
    grace: Grace,
}

/// The time GitLab has left once the job is cancelled: [`CANCEL_GRACE`] from the moment
/// the first request in flight saw the cancellation, for all requests after it.
#[derive(Default)]
struct Grace {
    cancelled_at: std::sync::OnceLock<tokio::time::Instant>,
}

impl Grace {
    /// `work` raced with the grace's end.
    async fn within<T>(
        &self,
        cancel: &CancellationToken,
        work: impl Future<Output = T>,
    ) -> Result<T, RunError> {
        let deadline = async {
            cancel.cancelled().await;
            let at = *self.cancelled_at.get_or_init(tokio::time::Instant::now);
            tokio::time::sleep_until(at + CANCEL_GRACE).await;
        };
        tokio::select! {
            biased;
            () = deadline => Err(RunError::Cancelled),
            result = work => Ok(result),
        }
    }
}

fn logged(what: &str, result: Result<(), GitlabError>) {
    if let Err(e) = result {
        tracing::warn!("could not set {what}: {e}");
        eprintln!("warning: could not set {what}: {e}");
    }
}

impl MrLoop {
    /// Reads the previous note's history; `None` when the run posts nowhere. A GitLab
    /// that cannot be read is reported and leaves the history empty: the final post
    /// will say clearly what is wrong.
    pub async fn open(plan: &Plan, cancel: &CancellationToken) -> Option<MrLoop> {
        let Publish::GitLab(target) = &plan.publish else {
            return None;
        };
        let api = match GitlabMr::new(target, plan.gitlab_policy.clone()) {
            Ok(api) => api,
            Err(e) => {
                eprintln!("warning: {e}");
                return None;
            }
        };
        let grace = Grace::default();
        let (ours, read) = match grace.within(cancel, find_ours(&api)).await {
            Ok(Ok(ours)) => (ours, true),
            Ok(Err(e)) => {
                eprintln!("warning: could not read the MR's notes: {e}");
                (None, false)
            }
            Err(_) => (None, false),
        };
        let history = ours
            .as_ref()
            .map(|n| history::read(&n.body))
            .unwrap_or_default();
        Some(MrLoop {
            api,
            target: target.clone(),
            previous: ours.filter(|n| !n.is_discussion()).map(|n| n.id),
            placeholder: None,
            history,
            read,
            grace,
        })
    }

    /// The note to replace: the placeholder, else the previous run's note.
    fn replaces(&self) -> Option<u64> {
        self.placeholder.or(self.previous)
    }

    /// Posts the placeholder (over the previous run's note) and the pending status;
    /// nothing once the job is cancelled, and no placeholder when the MR's notes could
    /// not be read (it could make a second note).
    pub async fn start(
        &mut self,
        plan: &Plan,
        placeholder: &str,
        head_sha: &str,
        pending: usize,
        cancel: &CancellationToken,
    ) {
        if cancel.is_cancelled() {
            return;
        }
        if plan.signals.placeholder && self.read {
            match self
                .grace
                .within(cancel, self.replace_or_create(placeholder))
                .await
            {
                Ok(Ok(action)) => {
                    let (NoteAction::Created(id) | NoteAction::Edited(id)) = action;
                    tracing::info!("placeholder note {id} on !{}", self.target.mr_iid);
                    self.placeholder = Some(id);
                }
                Ok(Err(e)) => eprintln!("warning: could not post the placeholder note: {e}"),
                Err(_) => return,
            }
        }
        let description = format!("rehearsing {pending} migrations on a production clone");
        self.status(plan, head_sha, StatusState::Pending, &description, cancel)
            .await;
    }

    /// Replaces [`Self::replaces`], read afresh (a new note if it became a discussion
    /// or is gone), or creates a note; looks for the previous note first if it could
    /// not be read at the start.
    async fn replace_or_create(&self, body: &str) -> Result<NoteAction, GitlabError> {
        match self.replaces() {
            Some(id) => finish_note(&self.api, id, body).await,
            None if !self.read => upsert_note(&self.api, body).await,
            None => place_note(&self.api, None, body).await,
        }
    }

    async fn status(
        &self,
        plan: &Plan,
        sha: &str,
        state: StatusState,
        description: &str,
        cancel: &CancellationToken,
    ) {
        let Some(name) = &plan.signals.commit_status else {
            return;
        };
        let status = CommitStatus {
            sha,
            name,
            state,
            description,
            target_url: plan.job_url.as_deref(),
        };
        if let Ok(result) = self
            .grace
            .within(cancel, self.api.set_status(&status))
            .await
        {
            logged(&format!("the commit status {name}"), result);
        }
    }

    /// Posts the final note, and the status and label of how the run ended.
    pub async fn finish(
        &self,
        plan: &Plan,
        note: &str,
        head_sha: &str,
        ending: Ending,
        cancel: &CancellationToken,
    ) -> Result<(), RunError> {
        let infra = |e: GitlabError| RunError::Infrastructure(e.to_string());
        let posted = self
            .grace
            .within(cancel, self.replace_or_create(note))
            .await?;
        match posted.map_err(infra)? {
            NoteAction::Created(id) => {
                tracing::info!("posted note {id} on !{}", self.target.mr_iid)
            }
            NoteAction::Edited(id) => {
                tracing::info!("updated note {id} on !{}", self.target.mr_iid)
            }
        }
        let state = match ending.commit_status() {
            outcome::CommitStatus::Success => StatusState::Success,
            outcome::CommitStatus::Failed => StatusState::Failed,
            outcome::CommitStatus::Canceled => StatusState::Canceled,
        };
        let description = match ending {
            Ending::Passed | Ending::NothingToDo => "passed",
            Ending::Findings | Ending::OverPolicy => "findings: see the note on the merge request",
            Ending::MigrationFailed => "failed: see the note on the merge request",
            Ending::Infrastructure => "could not finish: see the note on the merge request",
            Ending::Refused => "refused: see the note on the merge request",
            Ending::Stopped => "stopped before it finished: see the protected job",
            Ending::Cancelled => "cancelled",
        };
        self.status(plan, head_sha, state, description, cancel)
            .await;
        self.relabel(plan, ending, cancel).await;
        Ok(())
    }

    async fn relabel(&self, plan: &Plan, ending: Ending, cancel: &CancellationToken) {
        let labels = &plan.signals.labels;
        let chosen = match ending.label() {
            Some(Label::Passed) => &labels.passed,
            Some(Label::Findings) => &labels.findings,
            Some(Label::Failed) => &labels.failed,
            None => return,
        };
        let all = [&labels.passed, &labels.findings, &labels.failed];
        let remove: Vec<&str> = all
            .iter()
            .filter(|l| !l.is_empty() && *l != &chosen)
            .map(|l| l.as_str())
            .collect();
        let add: Vec<&str> = [chosen.as_str()]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect();
        if add.is_empty() && remove.is_empty() {
            return;
        }
        if let Ok(result) = self
            .grace
            .within(cancel, self.api.relabel(&add, &remove))
            .await
        {
            logged("the MR's label", result);
        }
    }
}
