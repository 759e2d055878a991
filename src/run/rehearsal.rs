//! Rehearsing one database: clone, bridge, box, then each migration in order (with its
//! way back, its batched job and the declared queries' plans), stopping at the first
//! failure as a migration tool would. Every resource is registered with the
//! [`Teardown`] as soon as it exists. Each migration is one [`super::step`].
//!
//! How a migration runs in the box (its staged file and the command that applies it the
//! way its tool does, or a framework's command) is [`crate::exec`]'s.

use crate::bridge::{Bridge, BridgeLog, Upstream};
use crate::clone::CloneRequest;
use crate::exec::{mkdir, stage, MIGRATION_USER};
use crate::gitlab::log::{JobLog, Progress, Tone};
use crate::observe::Observer;
use crate::report::{DatabaseReport, MigrationOutcome, MigrationReport};
use crate::sandbox::{BoxSpec, Sandbox};
use crate::secret::Secret;
use crate::teardown::Teardown;
use std::sync::Arc;

use super::error::DatabaseError;
use super::step::{Context, DatabaseWork, Session, StepError};

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
    match run_all(cx, work, teardown, &mut report).await {
        Ok(()) => {}
        // A cancelled run is the run's fact, not this database's error.
        Err(DatabaseError::Cancelled) => {}
        // Whatever a cancellation interrupted may fail in its own way first.
        Err(_) if cx.cancel.is_cancelled() => {}
        Err(e) => report.error = Some(crate::error_chain(&e)),
    }
    skip_rest(&mut report, work);
    report
}

async fn run_all(
    cx: &Context<'_>,
    work: &DatabaseWork,
    teardown: &mut Teardown,
    report: &mut DatabaseReport,
) -> Result<(), DatabaseError> {
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
            engine.destroy(&id).await
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
        _ = cx.cancel.cancelled() => return Err(DatabaseError::Cancelled),
    };
    let clone = clone?;
    report.clone = Some(clone.clone());

    let upstream = Upstream::of(&clone);
    // Installed while the role may still be a superuser (the event trigger needs one),
    // before it becomes the role production migrates with.
    let observer = Observer::connect(&upstream, cx.plan.lock_sample_interval).await?;
    observer.shape_role(&work.db.role).await?;
    report.server_version = Some(observer.server_version.clone());
    if let Some(production) = work.db.production_version {
        let same = crate::pg::majors::parse_major(&observer.server_version) == Some(production);
        if !same && !work.db.allow_other_major {
            return Err(DatabaseError::OtherMajor {
                production,
                clone: observer.server_version.clone(),
            });
        }
    }
    let bridge = Bridge::start(
        &socket_dir,
        upstream.with_session(&work.db.session),
        Some(observer.lock_reader()),
    )?;
    let bridge_log: Arc<BridgeLog> = bridge.log.clone();
    teardown.push(
        format!("bridge {}", socket_dir.display()),
        move || async move {
            bridge.stop().await;
            Ok::<_, std::convert::Infallible>(())
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
        client: newer_client(&observer.server_version),
    };
    let sandbox = Sandbox::create(cx.docker, &spec).await?;
    let sandbox = Arc::new(sandbox);
    {
        let sandbox = sandbox.clone();
        teardown.push(format!("box {}", spec.name), move || async move {
            sandbox.remove().await
        });
    }

    drop(cloning);
    let log_dir = cx.plan.artifacts_dir.join(&work.db.name);
    std::fs::create_dir_all(&log_dir).map_err(|source| DatabaseError::Artifacts {
        path: log_dir.display().to_string(),
        source,
    })?;

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
) -> Result<bool, StepError> {
    let Session {
        cx, observer, work, ..
    } = session;
    for (i, (m, staged)) in work.migrations.iter().zip(staged).enumerate() {
        if cx.cancel.is_cancelled() {
            return Err(StepError::Cancelled);
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
            true => Some(observer.schema().await?),
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

/// The client of the clone's major for the box, when `ops/pg-major.sh` prepared it on
/// this host (the box image's own `psql` is the host suite's, 15 on Debian 12).
fn newer_client(server_version: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    use crate::pg::majors::{parse_major, Majors, PREPARED};
    let major = parse_major(server_version)?;
    let root = Majors::new(std::path::Path::new(PREPARED)).prepared_root(major)?;
    let bin = root.join(format!("usr/lib/postgresql/{major}/bin"));
    Some((root, bin))
}
