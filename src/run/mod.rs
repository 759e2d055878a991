//! The job: one run of a plan from start to finish. Read the MR's migrations as git
//! objects ([`work`]), get an engine and Docker, rehearse each database, write the full
//! report, post the public summary through the leak gate ([`publish`]), and always clean
//! up. Returns the [`Outcome`] the exit code is made from; a run stopped before it could
//! report says why with a [`RunError`].

pub mod abandoned;
pub mod batches;
pub mod error;
pub mod note;
pub mod plans;
pub mod publish;
pub mod rehearsal;
pub mod step;
pub mod views;
pub mod way_back;
pub mod work;

pub use error::RunError;

use crate::clone::builtin::BuiltinEngine;
use crate::clone::dle::DleEngine;
use crate::clone::CloneEngine;
use crate::config::{EnginePlan, Plan, Publish};
use crate::exit::Outcome;
use crate::gitlab::log::JobLog;
use crate::report::{PublicSummary, Renderer, RunReport, SourceWords};
use crate::runs;
use crate::sandbox;
use crate::teardown::Teardown;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use step::DatabaseWork;
use tokio_util::sync::CancellationToken;

/// How long one cleanup step may take, even after cancellation.
const CLEANUP_STEP: Duration = Duration::from_secs(60);

/// Writes the full report (Markdown, HTML, report.json) and its views (JUnit, Code
/// Quality); answers the Markdown and where report.md went.
fn write_reports(
    plan: &Plan,
    report: &RunReport,
    work: &[DatabaseWork],
    renderer: &Renderer,
    words: &SourceWords,
) -> Result<(String, PathBuf), error::ReportError> {
    // Names and server messages are data: no control character of theirs acts in the
    // report or in the job log it is printed to.
    let full_md = renderer
        .full(report)
        .map(|md| crate::text::visible_lines(&md).into_owned())
        .map_err(|source| error::ReportError::Template {
            which: "full",
            source,
        })?;
    let full_html = renderer
        .html(report, &plan.docs_url)
        .map(|html| crate::text::visible_lines(&html).into_owned())
        .map_err(|source| error::ReportError::Template {
            which: "HTML",
            source,
        })?;
    let path = write_artifacts(&plan.rehearsal.artifacts_dir, report, &full_md, &full_html)?;
    views::write(
        &plan.rehearsal.artifacts_dir,
        plan,
        report,
        work,
        renderer,
        words,
    )?;
    Ok((full_md, path))
}

/// Where the run's files went, for the caller to print.
pub struct JobResult {
    pub outcome: Outcome,
    pub note: Option<String>,
    pub full_report: Option<PathBuf>,
}

async fn make_engine(
    plan: &Plan,
    work: &[DatabaseWork],
) -> Result<Arc<dyn CloneEngine>, crate::clone::CloneError> {
    match &plan.engine {
        EnginePlan::Dle { url, token, proxy } => Ok(Arc::new(DleEngine::through(
            url.clone(),
            token.clone(),
            proxy.as_ref(),
        ))),
        EnginePlan::Builtin(section) => {
            let engine = BuiltinEngine::new(section)?;
            for w in work.iter().filter(|w| !w.migrations.is_empty()) {
                engine.prepare(&w.db.db_name).await?;
            }
            Ok(Arc::new(engine))
        }
    }
}

/// Rehearses every database; infrastructure errors land in the report.
async fn rehearse_all(
    plan: &Plan,
    log: &JobLog,
    work: &[DatabaseWork],
    report: &mut RunReport,
    cancel: &CancellationToken,
) {
    let infra_report = |report: &mut RunReport, e: String| {
        let reports = work
            .iter()
            .map(|w| rehearsal::not_started(w, Some(e.clone())));
        report.databases.extend(reports);
    };
    let docker = match sandbox::connect_docker().await {
        Ok(d) => d,
        Err(e) => return infra_report(report, e.to_string()),
    };
    let engine = match make_engine(plan, work).await {
        Ok(e) => e,
        Err(e) => return infra_report(report, crate::error_chain(&e)),
    };
    for removed in runs::sweep_dead_runs(&docker, &runs::runs_root()).await {
        tracing::warn!("removed {removed} (left by a crash)");
    }
    let run_dir = match runs::RunDir::create(&runs::runs_root(), &plan.rehearsal.run_id) {
        Ok(d) => d,
        Err(e) => return infra_report(report, crate::error_chain(&e)),
    };
    for w in work {
        let mut teardown = Teardown::default();
        let cx = step::Context {
            plan: &plan.rehearsal,
            log,
            engine: engine.clone(),
            docker: &docker,
            run_dir: &run_dir.path,
            runs_root_id: &run_dir.root_id,
            cancel,
        };
        let db_report = rehearsal::rehearse(&cx, w, &mut teardown).await;
        let failures = teardown.run(CLEANUP_STEP).await;
        report.databases.push(db_report);
        if !failures.is_empty() {
            tracing::error!("cleanup left things behind: {}", failures.join("; "));
            report.cleanup_failures.extend(failures);
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    drop(run_dir);
}

/// Writes `report.json`, `report.md` and `report.html`; returns the Markdown's path.
fn write_artifacts(
    dir: &Path,
    report: &RunReport,
    full_md: &str,
    full_html: &str,
) -> Result<PathBuf, error::ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| error::ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(report)?;
    for (file, text) in [
        ("report.json", json.as_str()),
        ("report.md", full_md),
        ("report.html", full_html),
    ] {
        error::ReportError::write(dir.join(file), text)?;
    }
    Ok(dir.join("report.md"))
}

/// Ends a run whose MR breaks a rule before anything ran: the author, who cannot open
/// the protected job, gets a note naming the file and the rule (through the gate), a
/// failed status and the failed label; the exit code is the refusal's own.
async fn refuse(
    plan: &Plan,
    log: &JobLog,
    renderer: &Renderer,
    head_sha: &str,
    refusal: crate::model::refusal::Refusal,
    cancel: &CancellationToken,
) -> JobResult {
    let facts = crate::model::Facts {
        refused: true,
        ..Default::default()
    };
    let mut report = RunReport {
        ending: crate::model::decide(&facts),
        facts,
        refused: vec![refusal],
        ..RunReport::empty(
            &plan.rehearsal.run_id,
            Some(head_sha),
            plan.job_url.as_deref(),
            plan.rehearsal.thresholds.replication_bytes_per_second,
            plan.rehearsal.thresholds.statement_ms,
        )
    };
    let words = SourceWords::from_sources(report.refused.iter().map(|r| r.path.as_str()));
    let _section = log.section("publish", "Publish: the refusal, on the merge request");
    let mut mr = publish::MrLoop::open(plan, cancel).await;
    let history = mr.as_ref().map(|m| m.history.clone()).unwrap_or_default();
    let summary =
        PublicSummary::build(&report, &words, &plan.docs_url).with_history(&now(), history);
    let gated = note::gated(plan, &report, &[], renderer, &summary);
    report.withheld = gated.withheld;
    report.gate_error = gated.gate_error;
    let full_report = match write_reports(plan, &report, &[], renderer, &words) {
        Ok((_, path)) => Some(path),
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            None
        }
    };
    let mut outcome = report.ending.outcome();
    if let Some(mr) = mr.as_mut() {
        if let Err(e) = mr
            .finish(plan, &gated.text, head_sha, report.ending, cancel)
            .await
        {
            eprintln!("error: could not post the refusal: {e}");
            outcome = Outcome::Infrastructure;
        }
    }
    JobResult {
        outcome,
        note: Some(gated.text),
        full_report,
    }
}

/// Now, as the history lines record it.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Runs the plan. `Err` only for problems found before anything started.
pub async fn execute(
    plan: Plan,
    log: &JobLog,
    cancel: CancellationToken,
) -> Result<JobResult, RunError> {
    let renderer = Renderer::new(plan.templates_dir.as_deref()).map_err(|e| {
        RunError::Input(format!("the report templates: {}", crate::error_chain(&e)))
    })?;
    let fetching = log.section("fetch", "Fetch: the MR's migrations, as git objects");
    let tree = tokio::select! {
        tree = work::open_source(&plan) => tree?,
        () = cancel.cancelled() => return Err(RunError::Cancelled),
    };
    let (base, work) = tokio::select! {
        found = work::find_work(&plan, tree.as_ref()) => match found {
            Err(RunError::Refused { refusal, message }) => {
                drop(fetching);
                eprintln!("error: {}", crate::text::visible(&message));
                return Ok(refuse(&plan, log, &renderer, tree.head(), refusal, &cancel).await);
            }
            found => found?,
        },
        () = cancel.cancelled() => return Err(RunError::Cancelled),
    };
    for w in &work {
        log.line(&format!(
            "   {}: {} new migration(s)",
            w.db.name,
            w.migrations.len()
        ));
    }
    drop(fetching);
    // The MR's own text: its migrations and their paths, their downs and the queries
    // it declares.
    let words = SourceWords::from_sources(work.iter().flat_map(|w| {
        w.migrations
            .iter()
            .flat_map(|m| {
                [m.sql.as_str(), m.path.as_str()].into_iter().chain(
                    m.down
                        .iter()
                        .flat_map(|d| [d.sql.as_str(), d.path.as_str()]),
                )
            })
            .chain(w.queries.iter().map(|q| q.text.as_str()))
    }));
    let mut report = RunReport {
        base_sha: base,
        ..RunReport::empty(
            &plan.rehearsal.run_id,
            Some(tree.head()),
            plan.job_url.as_deref(),
            plan.rehearsal.thresholds.replication_bytes_per_second,
            plan.rehearsal.thresholds.statement_ms,
        )
    };
    let pending: usize = work.iter().map(|w| w.migrations.len()).sum();
    let head_sha = tree.head().to_string();
    let opening = log.section("placeholder", "Publish: the placeholder note and status");
    let mut mr = publish::MrLoop::open(&plan, &cancel).await;
    let history = mr.as_ref().map(|m| m.history.clone()).unwrap_or_default();
    if let Some(mr) = mr.as_mut().filter(|_| pending > 0) {
        let placeholder =
            PublicSummary::placeholder(Some(&head_sha), plan.job_url.as_deref(), pending)
                .with_history(&now(), history.clone());
        let placeholder = note::gated(&plan, &report, &work, &renderer, &placeholder);
        mr.start(&plan, &placeholder.text, &head_sha, pending, &cancel)
            .await;
    }
    drop(opening);
    if pending > 0 {
        rehearse_all(&plan, log, &work, &mut report, &cancel).await;
    }
    report.cancelled = cancel.is_cancelled();

    if let Some(e) = report.infrastructure_error() {
        eprintln!("error: {e}");
    }
    let mut facts = crate::model::Facts {
        cancelled: report.cancelled,
        refused: false,
        infrastructure: report.infrastructure_error().is_some()
            || !report.cleanup_failures.is_empty(),
        migration_failed: report.any_failed(),
        migrations: report.migration_count(),
        unacknowledged: report.findings().filter(|f| !f.acknowledged).count(),
        over_policy: plan.fail_on_findings.is_some_and(|at| {
            report
                .findings()
                .any(|f| !f.acknowledged && f.severity >= at)
        }),
    };

    let reporting = log.section("report", "Report: the note, the full report and its views");
    // Decided once; decided again only when the reports themselves could not be made,
    // so that the note, the status, the label and report.json say the same.
    let (note, full_md, full_report) = loop {
        report.facts = facts;
        report.ending = crate::model::decide(&facts);
        let summary = PublicSummary::build(&report, &words, &plan.docs_url)
            .with_history(&now(), history.clone());
        let gated = note::gated(&plan, &report, &work, &renderer, &summary);
        report.withheld = gated.withheld;
        report.gate_error = gated.gate_error;
        match write_reports(&plan, &report, &work, &renderer, &words) {
            Ok((full_md, path)) => break (gated.text, full_md, Some(path)),
            Err(e) if facts.infrastructure => {
                eprintln!("error: {}", crate::error_chain(&e));
                break (gated.text, String::new(), None);
            }
            Err(e) => {
                eprintln!("error: {}", crate::error_chain(&e));
                facts.infrastructure = true;
            }
        }
    };
    if matches!(plan.publish, Publish::GitLab(_)) {
        let _full = log.section("full_report", "Full report (maintainers only)");
        log.line(&full_md);
    }
    drop(reporting);

    let mut outcome = report.ending.outcome();
    let publishing = log.section("publish", "Publish: the note, the status and the label");
    let published = match &mr {
        Some(mr) => {
            mr.finish(&plan, &note, &head_sha, report.ending, &cancel)
                .await
        }
        None if matches!(plan.publish, Publish::GitLab(_)) => Err(RunError::Infrastructure(
            "no GitLab client could be made for the configured URL".into(),
        )),
        None => Ok(()),
    };
    match published {
        Ok(()) => {}
        Err(RunError::Cancelled) => {
            eprintln!(
                "error: cancelled while posting the summary; gave up after {:?}",
                publish::CANCEL_GRACE
            );
            outcome = Outcome::Cancelled;
        }
        Err(e) => {
            eprintln!("error: could not post the summary: {e}");
            outcome = Outcome::Infrastructure;
        }
    }
    drop(publishing);
    Ok(JobResult {
        outcome,
        note: Some(note),
        full_report,
    })
}
