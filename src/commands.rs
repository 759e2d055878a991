//! The subcommands as library functions, so the binary stays a thin shell: each turns
//! its arguments into a plan, runs the job and says where everything went.

use crate::cli::{DemoArgs, RunArgs, ServeArgs};
use crate::config::Plan;
use crate::demo_examples::Example;
use crate::engine::config::EngineConfig;
use crate::engine::serve;
use crate::exit::Outcome;
use crate::gitlab::log::JobLog;
use crate::run::{self, RunError};
use tokio_util::sync::CancellationToken;

fn report_outcome(outcome: Outcome) -> Outcome {
    let what = match outcome {
        Outcome::Success => "all migrations succeeded",
        Outcome::MigrationFailed => "a migration failed",
        Outcome::Usage => "refused: the configuration or the job's variables need fixing",
        Outcome::Infrastructure => "infrastructure error",
        Outcome::Cancelled => "cancelled",
        Outcome::Findings => "findings at or above policy.fail_on_findings",
        Outcome::Refused => "refused: the MR's files break a rule (the note says which)",
    };
    eprintln!("preflight: {what} (exit {})", outcome.code());
    outcome
}

/// `preflight run`.
pub async fn run(args: RunArgs, cancel: CancellationToken) -> Outcome {
    let print_only = args.print_only;
    let finish_abandoned = args.finish_abandoned;
    let log = JobLog::detect();
    let planned = {
        let _plan = log.section(
            "plan",
            "Plan: trusted configuration and the MR's coordinates",
        );
        Plan::for_run(args)
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::Usage;
        }
    };
    if finish_abandoned {
        return run::abandoned::finish(&plan, &cancel).await;
    }
    match run::execute(plan, &log, cancel).await {
        Ok(result) => {
            if print_only {
                if let Some(note) = &result.note {
                    println!("{note}");
                }
            }
            if let Some(p) = &result.full_report {
                eprintln!("preflight: full report in {}", p.display());
            }
            report_outcome(result.outcome)
        }
        Err(e) => stopped(e),
    }
}

/// Says why a run stopped before it could report.
fn stopped(e: RunError) -> Outcome {
    eprintln!("error: {e}");
    report_outcome(e.outcome())
}

/// Writes the bundled examples into `repo`/migrations and commits them: the demo reads
/// its migrations from git, as every run does.
async fn example_repo(
    repo: &std::path::Path,
    example: Example,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for (path, text) in example.files() {
        let file = repo.join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(file, text)?;
    }
    crate::source::git::init_and_commit(repo, "preflight demo examples").await?;
    Ok(())
}

/// `preflight demo`.
pub async fn demo(args: DemoArgs, cancel: CancellationToken) -> Outcome {
    let checkout = match tempfile::Builder::new().prefix("preflight-demo-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return Outcome::Infrastructure;
        }
    };
    if let Err(e) = example_repo(checkout.path(), args.example).await {
        eprintln!(
            "error: cannot commit the example migrations: {}",
            crate::error_chain(&*e)
        );
        return Outcome::Infrastructure;
    }
    eprintln!(
        "preflight demo: rehearsing {} example migrations on a generated dataset of {} accounts \
         (the first run builds the dataset once) ...",
        args.example.migrations(),
        args.rows
    );
    let image = args.image.clone().unwrap_or_else(|| {
        match args.example {
            Example::Sql => "preflight-box:bookworm",
            _ => "preflight-box-tools:bookworm",
        }
        .to_string()
    });
    let demo = crate::config::demo::Demo {
        rows: args.rows,
        artifacts_dir: args.artifacts_dir.clone(),
        work_dir: args.work_dir.clone(),
        command: args.example.command(&image),
        migrations_dir: args.example.migrations_dir().into(),
        image,
    };
    let plan = Plan::for_demo(demo, checkout.path().to_path_buf());
    match run::execute(plan, &JobLog::detect(), cancel).await {
        Ok(result) => {
            println!("----- the comment preflight would post on the merge request -----\n");
            println!("{}", result.note.unwrap_or_default());
            println!("----- end of comment -----");
            if let Some(p) = &result.full_report {
                println!("Full report (maintainers only): {}", p.display());
            }
            let outcome = report_outcome(result.outcome);
            // The demo's failing migration is expected; only infrastructure errors fail it.
            match outcome {
                Outcome::MigrationFailed => Outcome::Success,
                other => other,
            }
        }
        Err(e) => stopped(e),
    }
}

/// `preflight engine serve`.
pub async fn engine_serve(args: ServeArgs, cancel: CancellationToken) -> Outcome {
    let mut cfg = match &args.config {
        Some(path) => match EngineConfig::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}", crate::error_chain(&e));
                return Outcome::Usage;
            }
        },
        None => EngineConfig::default(),
    };
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    let token = match serve::load_token(&cfg, args.token) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            return Outcome::Usage;
        }
    };
    let result = serve::serve(cfg, token, cancel, |addr| {
        // Scripts (and the tests) read the address from this line.
        eprintln!("preflight engine: listening on {addr}");
    })
    .await;
    match result {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            Outcome::Infrastructure
        }
    }
}

/// `preflight bench ...`: a benchmark's result as the process's outcome.
pub fn bench_outcome(result: anyhow::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("error: {e:#}");
            Outcome::Infrastructure
        }
    }
}

/// `preflight: peak memory N KiB (VmHWM)`: this process's resident high-water mark as the
/// kernel counts it, or none where `/proc` does not say.
pub fn peak_memory_line() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    Some(format!("preflight: peak memory {kib} KiB (VmHWM)"))
}
