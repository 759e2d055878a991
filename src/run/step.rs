//! One step of a database's rehearsal: a migration (or its down, or a command-mode
//! tool's step) applied in the box the way its tool does, under the observers (the
//! trace, the lock sampler, the disk watchdog, the generated traffic), then analysed
//! into its verdict and causes. The [`Session`] holds what every step of one database
//! shares: its clone, bridge, box and observers. What a database's run is made of, and
//! what it is given ([`DatabaseWork`], [`Context`]), lives here too, since every step
//! reads them; the driver that makes the session and runs the steps is
//! [`super::rehearsal`].

use crate::bridge::BridgeLog;
use crate::clone::CloneEngine;
use crate::config::DatabasePlan;
use crate::exec::{box_env, migration_command, transaction_for};
use crate::gitlab::log::JobLog;
use crate::migrations::{Layout, Migration};
use crate::observe::Observer;
use crate::report::{MigrationOutcome, MigrationReport};
use crate::sandbox::output::CappedLog;
use crate::sandbox::{ExecEnd, Sandbox};
use crate::tools::Tool;
use bollard::Docker;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One database's migrations, chosen and ready to run.
pub struct DatabaseWork {
    pub db: DatabasePlan,
    pub layout: Layout,
    /// The tool whose transactions each file runs in.
    pub tool: Tool,
    pub migrations: Vec<Migration>,
    /// Command mode: the project's files the tool runs in (`db.command` says how).
    pub project: Option<crate::tools::command::ProjectFiles>,
    /// Queries the MR declares, planned before and after the migrations.
    pub queries: Vec<crate::source::queries::DeclaredQuery>,
}

pub struct Context<'a> {
    /// The plan's part for a rehearsal (no token in it).
    pub plan: &'a crate::config::plan::RehearsalPlan,
    pub log: &'a JobLog,
    pub engine: Arc<dyn CloneEngine>,
    pub docker: &'a Docker,
    pub run_dir: &'a Path,
    /// The id of the runs directory the run's lock is in (its boxes' label).
    pub runs_root_id: &'a str,
    pub cancel: &'a CancellationToken,
}

/// What happened first while a migration ran.
enum First {
    Ended(Result<ExecEnd, crate::sandbox::BoxError>),
    DiskLimit(i64),
    Cancelled,
}

/// How long the box's client may take to notice its session ended at the disk limit.
const DISK_LIMIT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends a migration that passed the disk limit: its sessions are terminated, so the
/// server stops writing at once, and the box's client, which notices and exits, gets
/// [`DISK_LIMIT_GRACE`] to say so in the log before the box is killed.
async fn stop_at_disk_limit(
    watch: &crate::observe::disk::DiskWatch,
    observer: &Observer,
    sandbox: &Sandbox,
    exec: std::pin::Pin<
        &mut impl std::future::Future<Output = Result<ExecEnd, crate::sandbox::BoxError>>,
    >,
) -> Result<ExecEnd, crate::sandbox::BoxError> {
    match watch.stop_others(&observer.own_pids()).await {
        Ok(n) => tracing::info!("terminated {n} session(s) of the migration"),
        Err(e) => tracing::error!("{e}"),
    }
    match tokio::time::timeout(DISK_LIMIT_GRACE, exec).await {
        Ok(end) => end,
        Err(_) => {
            sandbox.kill().await;
            Ok(ExecEnd::TimedOut)
        }
    }
}

/// Why a step could not be rehearsed (not a migration that failed: that is its report).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The job was cancelled while the step ran: its own variant, never another error.
    #[error("the job was cancelled")]
    Cancelled,
    #[error("observing the clone: {0}")]
    Observe(#[from] crate::observe::ObserveError),
    #[error("the box: {0}")]
    Box(crate::sandbox::BoxError),
    #[error("cannot create the step's log {path}: {source}")]
    Log {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::sandbox::BoxError> for StepError {
    fn from(e: crate::sandbox::BoxError) -> Self {
        match e {
            crate::sandbox::BoxError::Cancelled => StepError::Cancelled,
            e => StepError::Box(e),
        }
    }
}

/// One database's clone, bridge, box and observers, ready for migration steps.
pub(crate) struct Session<'a> {
    pub cx: &'a Context<'a>,
    pub sandbox: &'a Sandbox,
    pub observer: &'a Observer,
    pub bridge_log: &'a Arc<BridgeLog>,
    pub work: &'a DatabaseWork,
    /// Where each step's box output goes (`<staged name>.log`).
    pub log_dir: &'a Path,
}

impl Session<'_> {
    /// Applies `m`, staged in the box as `staged`, the way its tool does, under the
    /// observers.
    pub async fn rehearse(
        &self,
        m: &Migration,
        staged: &str,
    ) -> Result<MigrationReport, StepError> {
        rehearse_one(self, m, staged, None).await
    }

    /// Runs `command` in the box as the step `m` (command mode's way back), its output
    /// logged as `staged`'s.
    pub async fn rehearse_command(
        &self,
        m: &Migration,
        staged: &str,
        command: Vec<String>,
    ) -> Result<MigrationReport, StepError> {
        rehearse_one(self, m, staged, Some(command)).await
    }
}

async fn rehearse_one(
    session: &Session<'_>,
    m: &Migration,
    staged: &str,
    command: Option<Vec<String>>,
) -> Result<MigrationReport, StepError> {
    let Session {
        cx,
        sandbox,
        observer,
        bridge_log,
        work,
        log_dir,
    } = session;
    let log_path = &log_dir.join(staged.replace(".sql", ".log"));
    let baseline = observer.before().await?;
    let thresholds = &cx.plan.thresholds;
    bridge_log.start(crate::trace::detail::Detail {
        cap: crate::trace::detail::DETAIL_CAP,
        slow_ms: thresholds.statement_ms,
        rows: thresholds.rows,
    });
    let sampler = observer
        .sample_locks(Arc::clone(bridge_log), &baseline)
        .await?;
    let mut log =
        CappedLog::create(log_path, cx.plan.sandbox.output_limit_bytes).map_err(|source| {
            StepError::Log {
                path: log_path.display().to_string(),
                source,
            }
        })?;

    let watch = observer.disk_watch().await?;
    let disk_limit = baseline
        .size_bytes
        .saturating_add(i64::try_from(cx.plan.sandbox.disk_limit_bytes).unwrap_or(i64::MAX));

    // A command-mode tool decides its transactions itself.
    let (command, transaction) = match (command, &work.db.command) {
        (Some(command), _) => (command, None),
        (None, Some(c)) => (c.step(m), None),
        (None, None) => {
            let t = transaction_for(work.tool, m);
            (migration_command(staged, t), Some(t))
        }
    };
    // Started after the baseline (which forgets the last migration's traffic sessions).
    let traffic = observer.start_traffic(&cx.plan.traffic).await?;
    let started = Instant::now();
    let mut over_disk_limit = false;
    let end = {
        let exec = sandbox.exec(
            command,
            box_env(&work.db.db_name),
            cx.plan.sandbox.migration_timeout,
            &mut log,
        );
        tokio::pin!(exec);
        let first = tokio::select! {
            end = &mut exec => First::Ended(end),
            size = watch.exceeded(disk_limit) => First::DiskLimit(size),
            _ = cx.cancel.cancelled() => First::Cancelled,
        };
        match first {
            First::Ended(end) => end,
            First::DiskLimit(size) => {
                over_disk_limit = true;
                tracing::warn!(
                    size,
                    limit = disk_limit,
                    "{} passed the disk limit; stopping it",
                    m.name()
                );
                stop_at_disk_limit(&watch, observer, sandbox, exec).await
            }
            First::Cancelled => Err(crate::sandbox::BoxError::Cancelled),
        }
    };
    let wall_s = started.elapsed().as_secs_f64();
    let traffic = match traffic {
        Some(t) => Some(t.finish().await),
        None => None,
    };
    let locks = sampler.finish().await.unwrap_or_else(|e| {
        tracing::warn!("lock sampler failed: {e}");
        Vec::new()
    });
    let (output_bytes, output_cut) = log.finish().unwrap_or((0, 0));
    let end = end?;
    let events = bridge_log.take();
    for failure in &events.failures {
        tracing::warn!("bridge: a box session could not reach the clone: {failure}");
    }
    let measured = observer.after().await?;
    let mut trace = crate::trace::timeline::build(
        &events.statements,
        started,
        &baseline.catalog,
        &measured.catalog,
    );
    if events.folded.statements > 0 {
        trace.elided = Some(events.folded);
    }
    let file = String::from_utf8_lossy(&m.bytes);
    crate::trace::source_map::number(&mut trace, &m.sql, &file);

    let outcome = match end {
        _ if over_disk_limit => MigrationOutcome::DiskLimit,
        ExecEnd::Exited(0) => MigrationOutcome::Succeeded,
        ExecEnd::Exited(_) => MigrationOutcome::Failed,
        ExecEnd::TimedOut => MigrationOutcome::TimedOut,
    };
    let sqlstate = match outcome {
        MigrationOutcome::Failed => events
            .errors
            .iter()
            .rev()
            .find(|e| matches!(e.severity.as_str(), "ERROR" | "FATAL" | "PANIC"))
            .map(|e| e.sqlstate.clone()),
        _ => None,
    };
    let findings = crate::analyze::analyze(
        &crate::analyze::Input {
            outcome,
            sqlstate: sqlstate.as_deref(),
            wall_s,
            wal_bytes: measured.wal_bytes - baseline.wal_bytes,
            trace: &trace,
            stats: &measured.statements,
            sampled: &locks,
            before: &baseline.catalog,
            after: &measured.catalog,
            default_lock_timeout: &baseline.default_lock_timeout,
            post_deploy: work.db.post_deploy,
            thresholds: &cx.plan.thresholds,
            database: &work.db.name,
            owners: &cx.plan.table_owners,
            traffic: traffic.as_ref(),
        },
        &file,
    );
    let verdict = crate::analyze::verdict::verdict(&trace, &locks);
    // Every rule saw every statement; the report lists a bounded part of them.
    let referenced = findings
        .iter()
        .filter_map(|f| f.statement.as_ref().map(|s| s.trace_index))
        .collect();
    trace.keep_detail(
        &referenced,
        cx.plan.thresholds.statement_ms,
        crate::trace::detail::DETAIL_CAP,
    );
    Ok(MigrationReport {
        name: m.name().to_string(),
        path: m.path.clone(),
        outcome,
        transaction,
        exit_code: match end {
            ExecEnd::Exited(code) => Some(code),
            ExecEnd::TimedOut => None,
        },
        sqlstate,
        server_errors: events.errors,
        wall_s,
        size_before: baseline.size_bytes,
        size_after: measured.size_bytes,
        wal_bytes: measured.wal_bytes - baseline.wal_bytes,
        temp_bytes: measured.temp_bytes - baseline.temp_bytes,
        peak_extra_bytes: crate::observe::disk::peak_extra(
            baseline.size_bytes,
            watch.peak(),
            measured.size_bytes,
            baseline.catalog.rewritten_bytes(&measured.catalog),
            measured.temp_bytes - baseline.temp_bytes,
        ),
        statements: measured.statements,
        locks,
        trace,
        verdict,
        findings,
        log_file: Some(log_path.display().to_string()),
        output_bytes,
        output_cut,
        way_back: None,
        traffic,
        batched: None,
    })
}
