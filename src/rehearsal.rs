//! Rehearsing one database: clone, bridge, box, then each migration in order under the
//! observers, stopping at the first failure as a migration tool would. Every resource
//! is registered with the [`Teardown`] as soon as it exists.
//!
//! How a migration runs in the box (its staged file and the command that applies it the
//! way its tool does, or a framework's command) is [`crate::exec`]'s.

use crate::bridge::{Bridge, BridgeLog, Upstream};
use crate::clone::{CloneEngine, CloneRequest};
use crate::config::{DatabasePlan, Plan};
use crate::exec::{box_env, migration_command, mkdir, stage, transaction_for, MIGRATION_USER};
use crate::gitlab::log::{JobLog, Progress, Tone};
use crate::migrations::{Layout, Migration};
use crate::observe::Observer;
use crate::report::{DatabaseReport, MigrationOutcome, MigrationReport};
use crate::sandbox::output::CappedLog;
use crate::sandbox::{BoxSpec, ExecEnd, Sandbox};
use crate::secret::Secret;
use crate::teardown::Teardown;
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
    pub plan: &'a Plan,
    pub log: &'a JobLog,
    pub engine: Arc<dyn CloneEngine>,
    pub docker: &'a Docker,
    pub run_dir: &'a Path,
    /// The id of the runs directory the run's lock is in (its boxes' label).
    pub runs_root_id: &'a str,
    pub cancel: &'a CancellationToken,
}

fn empty_report(work: &DatabaseWork) -> DatabaseReport {
    DatabaseReport {
        layout: work.project.is_none().then_some(work.layout),
        tool: work.project.is_none().then_some(work.tool),
        command: work.db.command.as_ref().map(|c| c.tool),
        role: Some(work.db.role.clone()),
        production_version: work.db.production_version,
        ..DatabaseReport::named(&work.db.name)
    }
}

/// The report of a database whose rehearsal never started: every migration skipped.
pub fn not_started(work: &DatabaseWork, error: Option<String>) -> DatabaseReport {
    let mut report = empty_report(work);
    report.error = error;
    skip_rest(&mut report, work);
    report
}

/// Lists every migration that did not run as skipped.
fn skip_rest(report: &mut DatabaseReport, work: &DatabaseWork) {
    for m in work.migrations.iter().skip(report.migrations.len()) {
        report.migrations.push(MigrationReport::skipped(
            m.name().to_string(),
            m.path.clone(),
        ));
    }
}

/// Rehearses one database; resources go on `teardown`. Infrastructure errors end up in
/// the report's `error`, so the run still reports what it has.
pub async fn rehearse(
    cx: &Context<'_>,
    work: &DatabaseWork,
    teardown: &mut Teardown,
) -> DatabaseReport {
    let mut report = empty_report(work);
    if let Err(e) = run_all(cx, work, teardown, &mut report).await {
        // A cancelled run is the run's fact, not this database's error: whatever the
        // cancellation interrupted reported it as its own failure.
        if !cx.cancel.is_cancelled() {
            report.error = Some(e);
        }
    }
    skip_rest(&mut report, work);
    report
}

async fn run_all(
    cx: &Context<'_>,
    work: &DatabaseWork,
    teardown: &mut Teardown,
    report: &mut DatabaseReport,
) -> Result<(), String> {
    let db_dir = cx.run_dir.join(&work.db.name);
    let staged = stage(&db_dir.join("migrations"), &work.migrations)?;
    // Command mode: the box works in the project, where the tool finds its files.
    let box_dir = match &work.project {
        Some(files) => {
            let dir = db_dir.join("project");
            mkdir(&dir, 0o755)?;
            crate::tools::command::write_project(files, &dir)?;
            dir
        }
        None => db_dir.join("migrations"),
    };
    let socket_dir = db_dir.join("sock");
    mkdir(&socket_dir, 0o755)?;

    let request = CloneRequest {
        id: format!("{}-{}", cx.plan.run_id, work.db.name),
        db_name: work.db.db_name.clone(),
        username: MIGRATION_USER.into(),
        password: Secret::generate(32),
        restricted: work.db.role.restricted_clone(),
        snapshot: cx.plan.clone.snapshot.clone(),
    };
    // Registered before the request: a clone that fails half-way, or a request cut
    // short by cancellation, is still destroyed by id (an unknown id is no error).
    {
        let (engine, id) = (cx.engine.clone(), request.id.clone());
        teardown.push(format!("clone {id}"), move || async move {
            engine.destroy(&id).await.map_err(|e| e.to_string())
        });
    }
    let cloning = cx.log.section(
        &format!("clone_{}", work.db.name),
        &format!(
            "Clone: database {} from the {}",
            work.db.name,
            cx.engine.describe()
        ),
    );
    tracing::info!(database = %work.db.name, "requesting clone {}", request.id);
    let clone = tokio::select! {
        c = cx.engine.create(&request, cx.plan.clone.ready_timeout) => c,
        _ = cx.cancel.cancelled() => return Err("cancelled while waiting for the clone".into()),
    };
    let clone = clone.map_err(|e| e.to_string())?;
    report.clone = Some(clone.clone());

    let upstream = Upstream::of(&clone);
    // Installed while the role may still be a superuser (the event trigger needs one),
    // before it becomes the role production migrates with.
    let observer = Observer::connect(&upstream, cx.plan.lock_sample_interval)
        .await
        .map_err(|e| e.to_string())?;
    observer.shape_role(&work.db.role).await?;
    report.server_version = Some(observer.server_version.clone());
    let bridge = Bridge::start(
        &socket_dir,
        upstream.with_session(&work.db.session),
        Some(observer.lock_reader()),
    )
    .map_err(|e| e.to_string())?;
    let bridge_log: Arc<BridgeLog> = bridge.log.clone();
    teardown.push(
        format!("bridge {}", socket_dir.display()),
        move || async move {
            bridge.stop().await;
            Ok(())
        },
    );

    let spec = BoxSpec {
        image: match &work.db.command {
            Some(c) => c.image.clone(),
            None => cx.plan.sandbox.image.clone(),
        },
        run_id: cx.plan.run_id.clone(),
        runs_root_id: cx.runs_root_id.to_string(),
        name: format!("{}-{}", cx.plan.run_id, work.db.name),
        migrations_dir: box_dir,
        socket_dir: socket_dir.clone(),
    };
    let sandbox = Sandbox::create(cx.docker, &spec)
        .await
        .map_err(|e| e.to_string())?;
    let sandbox = Arc::new(sandbox);
    {
        let sandbox = sandbox.clone();
        teardown.push(format!("box {}", spec.name), move || async move {
            sandbox.remove().await.map_err(|e| e.to_string())
        });
    }

    drop(cloning);
    let log_dir = cx.plan.artifacts_dir.join(&work.db.name);
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;

    let session = Session {
        cx,
        sandbox: &sandbox,
        observer: &observer,
        bridge_log: &bridge_log,
        work,
        log_dir: &log_dir,
    };
    let plans_before = crate::run::plans::plan_all(&upstream, work).await;
    let all_succeeded = run_migrations(&session, &staged, report).await?;
    let plans_after = match all_succeeded {
        true => Some(crate::run::plans::plan_all(&upstream, work).await),
        false => None,
    };
    report.queries =
        crate::run::plans::compare_all(work, plans_before, plans_after, &cx.plan.thresholds);
    Ok(())
}

/// Runs the migrations in order, each with its way back; answers whether all succeeded.
async fn run_migrations(
    session: &Session<'_>,
    staged: &[String],
    report: &mut DatabaseReport,
) -> Result<bool, String> {
    let Session {
        cx, observer, work, ..
    } = session;
    for (i, (m, staged)) in work.migrations.iter().zip(staged).enumerate() {
        if cx.cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        let _section = cx.log.section(
            &format!("migration_{}_{}", work.db.name, i + 1),
            &format!(
                "Migration {} of {} on {}: {}",
                i + 1,
                work.migrations.len(),
                work.db.name,
                m.name()
            ),
        );
        let progress = Progress::start(cx.log, &crate::text::visible(m.name()));
        let back = match (&m.down, &work.db.command) {
            (Some(down), _) => Some(crate::run::way_back::Back::File(down)),
            (None, Some(c)) => c.step_down(m).map(crate::run::way_back::Back::Command),
            (None, None) => None,
        }
        .filter(|_| work.db.way_back);
        let way_back = back.is_some();
        let schema_before = match way_back {
            true => Some(observer.schema().await.map_err(|e| e.to_string())?),
            false => None,
        };
        let mut result = session.rehearse(m, staged).await?;
        let mut stop = result.outcome != MigrationOutcome::Succeeded;
        if let (Some(before), Some(back)) = (schema_before, back) {
            if !stop {
                let back = crate::run::way_back::rehearse(session, m, back, staged, before).await?;
                stop = back.stops_the_run;
                result.findings.extend(back.findings);
                crate::analyze::acknowledge(&mut result.findings, &m.sql);
                result.way_back = Some(back.report);
            }
        }
        if !stop {
            crate::run::batches::sample_declared(session, m, &mut result).await;
        }
        drop(progress);
        say_outcome(cx.log, &result);
        report.migrations.push(result);
        if stop {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One line for the log: the migration's outcome (in colour), runtime and findings.
fn say_outcome(log: &JobLog, m: &MigrationReport) {
    let (word, tone) = match m.outcome {
        MigrationOutcome::Succeeded => ("succeeded", Tone::Good),
        MigrationOutcome::Failed => ("failed", Tone::Bad),
        MigrationOutcome::TimedOut => ("timed out", Tone::Bad),
        MigrationOutcome::DiskLimit => ("stopped at the disk limit", Tone::Bad),
        MigrationOutcome::Skipped => ("skipped", Tone::Bad),
    };
    log.outcome(
        &m.name,
        word,
        tone,
        &format!(
            " in {}{}, {} finding(s)",
            crate::report::rounding::duration_s(m.wall_s),
            m.sqlstate
                .as_deref()
                .map(|c| format!(" with SQLSTATE {c}"))
                .unwrap_or_default(),
            m.findings.len()
        ),
    );
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
    pub async fn rehearse(&self, m: &Migration, staged: &str) -> Result<MigrationReport, String> {
        rehearse_one(self, m, staged, None).await
    }

    /// Runs `command` in the box as the step `m` (command mode's way back), its output
    /// logged as `staged`'s.
    pub async fn rehearse_command(
        &self,
        m: &Migration,
        staged: &str,
        command: Vec<String>,
    ) -> Result<MigrationReport, String> {
        rehearse_one(self, m, staged, Some(command)).await
    }
}

async fn rehearse_one(
    session: &Session<'_>,
    m: &Migration,
    staged: &str,
    command: Option<Vec<String>>,
) -> Result<MigrationReport, String> {
    let Session {
        cx,
        sandbox,
        observer,
        bridge_log,
        work,
        log_dir,
    } = session;
    let log_path = &log_dir.join(staged.replace(".sql", ".log"));
    let baseline = observer.before().await.map_err(|e| e.to_string())?;
    bridge_log.take();
    let sampler = observer
        .sample_locks(Arc::clone(bridge_log), &baseline)
        .await
        .map_err(|e| e.to_string())?;
    let mut log = CappedLog::create(log_path, cx.plan.sandbox.output_limit_bytes)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;

    let watch = observer.disk_watch().await.map_err(|e| e.to_string())?;
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
    let traffic = observer
        .start_traffic(&cx.plan.traffic)
        .await
        .map_err(|e| e.to_string())?;
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
            First::Cancelled => Err(crate::sandbox::BoxError::Docker {
                action: "finish the migration".into(),
                reason: "the job was cancelled".into(),
            }),
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
    let end = end.map_err(|e| e.to_string())?;
    let events = bridge_log.take();
    for failure in &events.failures {
        tracing::warn!("bridge: a box session could not reach the clone: {failure}");
    }
    let measured = observer.after().await.map_err(|e| e.to_string())?;
    let mut trace = crate::trace::timeline::build(
        &events.statements,
        started,
        &baseline.catalog,
        &measured.catalog,
    );
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
