//! The job's `after_script`: a run that was killed (out of memory, the job's timeout, a
//! lost runner) never replaced its placeholder, so the MR would say "rehearsing ..." and
//! the commit status `pending` forever. `preflight run --finish-abandoned` looks at the
//! MR's note: when its newest run line is this head's and still `running`, the note says
//! the rehearsal was stopped before it finished (the protected job says why), the status
//! becomes `failed` and the label the failed one. A run that finished is left as it is.
//! The next run edits the same note (one note per MR).

use super::{note, publish, DatabaseWork};
use crate::config::{Plan, SourcePlan};
use crate::exit::Outcome;
use crate::model::Ending;
use crate::report::{PublicSummary, Renderer, RunReport};
use tokio_util::sync::CancellationToken;

/// Finishes this head's run if it was abandoned; answers how that went.
pub async fn finish(plan: &Plan, cancel: &CancellationToken) -> Outcome {
    // The head as a full commit id (a local checkout's `HEAD` resolved).
    let head = match &plan.source {
        SourcePlan::Gitlab { head_sha } => head_sha.clone(),
        SourcePlan::Local { .. } => match super::work::open_source(plan).await {
            Ok(tree) => tree.head().to_string(),
            Err(e) => {
                eprintln!("error: {e}");
                return Outcome::Infrastructure;
            }
        },
    };
    let Some(mr) = publish::MrLoop::open(plan, cancel).await else {
        eprintln!("preflight: no merge request to finish a run on");
        return Outcome::Success;
    };
    let abandoned = mr
        .history
        .first()
        .is_some_and(|r| r.status == "running" && head.to_ascii_lowercase().starts_with(&r.sha));
    if !abandoned {
        eprintln!("preflight: the run of {head} finished; nothing to do");
        return Outcome::Success;
    }
    let renderer = match Renderer::new(plan.templates_dir.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the report templates: {}", crate::error_chain(&e));
            return Outcome::Infrastructure;
        }
    };
    let mut report = RunReport::empty(
        &plan.rehearsal.run_id,
        Some(&head),
        plan.job_url.as_deref(),
        plan.rehearsal.thresholds.replication_bytes_per_second,
        plan.rehearsal.thresholds.statement_ms,
    );
    report.ending = Ending::Stopped;
    let earlier = mr.history.iter().skip(1).cloned().collect();
    let summary = PublicSummary::stopped(Some(&head), plan.job_url.as_deref())
        .with_history(&super::now(), earlier);
    let gated = note::gated(plan, &report, &[] as &[DatabaseWork], &renderer, &summary);
    match mr
        .finish(plan, &gated.text, &head, Ending::Stopped, cancel)
        .await
    {
        Ok(()) => {
            eprintln!(
                "preflight: the abandoned run of {head} is marked stopped on the merge request"
            );
            Outcome::Success
        }
        Err(e) => {
            eprintln!("error: could not finish the abandoned run's note: {e}");
            Outcome::Infrastructure
        }
    }
}
