//! The job: one run of a plan from start to finish. Find the migrations, get an engine
//! and Docker, rehearse each database, write the full report, post the public summary
//! through the leak gate, and always clean up. Returns the [`Outcome`] the exit code is made from.

use crate::clone::builtin::BuiltinEngine;
use crate::clone::dle::DleEngine;
use crate::clone::CloneEngine;
use crate::config::{EnginePlan, Plan, Publish};
use crate::exit::Outcome;
use crate::gitlab::{client::GitlabNotes, upsert_note, NoteAction};
use crate::migrations::{discover, select_new, selection::base_commit};
use crate::rehearsal::{self, DatabaseWork};
use crate::report::gate::{gate, Gated, Vocabulary, REPORT_WITHHELD};
use crate::report::{PublicSummary, Renderer, RunReport, SourceWords, NOTE_MARKER};
use crate::runs;
use crate::sandbox;
use crate::teardown::Teardown;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one cleanup step may take, even after cancellation.
const CLEANUP_STEP: Duration = Duration::from_secs(60);

/// Where the run's files went, for the caller to print.
pub struct JobResult {
    pub outcome: Outcome,
    pub note: Option<String>,
    pub full_report: Option<PathBuf>,
}

fn section(name: &str, title: &str, body: &str) {
    let now = chrono::Utc::now().timestamp();
    // GitLab collapsible section in the (protected) job log.
    println!("\x1b[0Ksection_start:{now}:{name}[collapsed=true]\r\x1b[0K{title}");
    println!("{body}");
    println!("\x1b[0Ksection_end:{now}:{name}\r\x1b[0K");
}

/// Finds each database's new migrations. Errors here are the user's to fix.
fn find_work(plan: &Plan) -> Result<(Option<String>, Vec<DatabaseWork>), String> {
    let base = base_commit(&plan.checkout, &plan.selection).map_err(|e| e.to_string())?;
    let mut work = Vec::new();
    for db in &plan.databases {
        let (layout, all) = discover(&plan.checkout, &db.migrations, db.layout)
            .map_err(|e| format!("database {:?}: {e}", db.name))?;
        let migrations = select_new(&plan.checkout, &db.migrations, base.as_deref(), all)
            .map_err(|e| format!("database {:?}: {e}", db.name))?;
        work.push(DatabaseWork {
            db: db.clone(),
            layout,
            migrations,
        });
    }
    Ok((base, work))
}

async fn make_engine(plan: &Plan, work: &[DatabaseWork]) -> Result<Arc<dyn CloneEngine>, String> {
    match &plan.engine {
        EnginePlan::Dle { url, token } => Ok(Arc::new(DleEngine::new(url.clone(), token.clone()))),
        EnginePlan::Builtin(section) => {
            let engine = BuiltinEngine::new(section).map_err(|e| e.to_string())?;
            for w in work.iter().filter(|w| !w.migrations.is_empty()) {
                engine
                    .prepare(&w.db.db_name)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(Arc::new(engine))
        }
    }
}

/// Rehearses every database; infrastructure errors land in the report.
async fn rehearse_all(
    plan: &Plan,
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
        Err(e) => return infra_report(report, e),
    };
    for removed in runs::sweep_dead_runs(&docker, &runs::runs_root()).await {
        tracing::warn!("removed {removed} (left by a crash)");
    }
    let run_dir = match runs::RunDir::create(&runs::runs_root(), &plan.run_id) {
        Ok(d) => d,
        Err(e) => return infra_report(report, e),
    };
    for w in work {
        let mut teardown = Teardown::default();
        let cx = rehearsal::Context {
            plan,
            engine: engine.clone(),
            docker: &docker,
            run_dir: &run_dir.path,
            cancel,
        };
        let db_report = rehearsal::rehearse(&cx, w, &mut teardown).await;
        let failures = teardown.run(CLEANUP_STEP).await;
        report.databases.push(db_report);
        if !failures.is_empty() {
            tracing::error!("cleanup left things behind: {}", failures.join("; "));
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    drop(run_dir);
}

fn write_artifacts(dir: &Path, report: &RunReport, full_md: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.json"), json)
        .map_err(|e| format!("cannot write report.json: {e}"))?;
    let md = dir.join("report.md");
    std::fs::write(&md, full_md).map_err(|e| format!("cannot write report.md: {e}"))?;
    Ok(md)
}

async fn publish(plan: &Plan, note: &str) -> Result<(), String> {
    match &plan.publish {
        Publish::Print => Ok(()),
        Publish::GitLab(target) => {
            let api = GitlabNotes::connect(target)
                .await
                .map_err(|e| e.to_string())?;
            match upsert_note(&api, note).await.map_err(|e| e.to_string())? {
                NoteAction::Created(id) => tracing::info!("posted note {id} on !{}", target.mr_iid),
                NoteAction::Edited(id) => tracing::info!("updated note {id} on !{}", target.mr_iid),
            }
            Ok(())
        }
    }
}

/// The words the leak gate lets through: the summary template's, the closed
/// vocabularies', the MR's migrations (text and file names) and trusted configuration's.
fn vocabulary(plan: &Plan, work: &[DatabaseWork], renderer: &Renderer) -> Vocabulary {
    let mut vocab = Vocabulary::default().with_closed_vocabularies();
    vocab.add_template(renderer.summary_source());
    for m in work.iter().flat_map(|w| &w.migrations) {
        vocab.add_text(&m.sql);
        vocab.add_text(&m.entry);
        vocab.add_text(&m.path.to_string_lossy());
    }
    for db in &plan.databases {
        vocab.add_text(&db.name);
        vocab.add_text(&db.db_name);
    }
    for trusted in [&plan.job_url, &plan.head_sha].into_iter().flatten() {
        vocab.add_text(trusted);
    }
    vocab.add_text(NOTE_MARKER);
    vocab
}

/// Runs the gate; a panic inside it counts as a failure (fail closed).
fn gate_note(rendered: &str, vocab: &Vocabulary, renderer: &Renderer) -> Result<Gated, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gate(rendered, vocab, renderer.gate_texts())
    }))
    .unwrap_or_else(|_| Err("the leak gate panicked".into()))
}

/// Runs the plan. `Err` only for problems found before anything started (exit 2).
pub async fn run(plan: Plan, cancel: CancellationToken) -> Result<JobResult, String> {
    let (base, work) = find_work(&plan)?;
    let renderer = Renderer::new(plan.templates_dir.as_deref()).map_err(|e| e.to_string())?;
    let words = SourceWords::from_sources(
        work.iter()
            .flat_map(|w| w.migrations.iter().map(|m| m.sql.as_str())),
    );
    let mut report = RunReport {
        run_id: plan.run_id.clone(),
        head_sha: plan.head_sha.clone(),
        base_sha: base,
        started_at: chrono::Utc::now().to_rfc3339(),
        job_url: plan.job_url.clone(),
        databases: Vec::new(),
        cancelled: false,
        withheld: Vec::new(),
        gate_error: None,
    };
    let pending: usize = work.iter().map(|w| w.migrations.len()).sum();
    if pending > 0 {
        rehearse_all(&plan, &work, &mut report, &cancel).await;
    }
    report.cancelled = cancel.is_cancelled();

    let mut outcome = if report.cancelled {
        Outcome::Cancelled
    } else if report.infrastructure_error().is_some() {
        Outcome::Infrastructure
    } else if report.any_failed() {
        Outcome::MigrationFailed
    } else {
        Outcome::Success
    };
    if let Some(e) = report.infrastructure_error() {
        eprintln!("error: {e}");
    }

    let summary = PublicSummary::build(&report, &words);
    let note = match renderer.summary(&summary) {
        Ok(rendered) => gate_note(&rendered, &vocabulary(&plan, &work, &renderer), &renderer),
        Err(e) => Err(e.to_string()),
    };
    let note = match note {
        Ok(gated) => {
            for w in &gated.withheld {
                tracing::warn!(line = w.line, words = ?w.words, "the leak gate withheld an item of the MR note");
            }
            report.withheld = gated.withheld;
            gated.note
        }
        Err(e) => {
            tracing::error!(error = %e, "the leak gate failed; posting only the fixed 'withheld' note");
            report.gate_error = Some(e);
            format!("{NOTE_MARKER}\n{REPORT_WITHHELD}")
        }
    };

    let full_md = renderer.full(&report).map_err(|e| e.to_string())?;
    let full_report = match write_artifacts(&plan.artifacts_dir, &report, &full_md) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("error: {e}");
            outcome = Outcome::Infrastructure;
            None
        }
    };
    if matches!(plan.publish, Publish::GitLab(_)) {
        section(
            "preflight_full_report",
            "preflight: full report (maintainers only)",
            &full_md,
        );
    }

    if let Err(e) = publish(&plan, &note).await {
        eprintln!("error: could not post the summary: {e}");
        outcome = Outcome::Infrastructure;
    }
    Ok(JobResult {
        outcome,
        note: Some(note),
        full_report,
    })
}
