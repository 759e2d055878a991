//! The `preflight` binary: parse the command line, wire Ctrl-C and SIGTERM to one
//! cancellation token, run the subcommand, exit with its documented code.

use clap::Parser;
use preflight::cli::{BenchCommand, Cli, Command, EngineCommand};
use preflight::commands;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(preflight::gitlab::log::colours_wanted())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PREFLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("preflight=info")),
        )
        .init();
    if let Command::Engine(EngineCommand::Relay(args)) = cli.command {
        // Before any runtime: it enters another network namespace on this thread.
        return preflight::engine::relay::run(args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(preflight::exit::Outcome::Infrastructure);
        }
    };
    // A run ends its log with its peak memory: operators size the job's memory limit by
    // it, and `preflight bench memory` reads it.
    let says_peak = matches!(cli.command, Command::Run(_));
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let watcher = cancel.clone();
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            eprintln!("preflight: cancelling; cleaning up ...");
            watcher.cancel();
        });
        let outcome = match cli.command {
            Command::Run(args) => commands::run(*args, cancel).await,
            Command::Demo(args) => commands::demo(args, cancel).await,
            Command::Engine(EngineCommand::Serve(args)) => {
                commands::engine_serve(args, cancel).await
            }
            Command::Engine(EngineCommand::Relay(_)) => unreachable!("handled before the runtime"),
            Command::Bench(BenchCommand::Clones(args)) => {
                commands::bench_outcome(preflight::bench::clones::run(args, cancel).await)
            }
            Command::Bench(BenchCommand::Trace(args)) => {
                commands::bench_outcome(preflight::bench::trace::run(args, cancel).await)
            }
            Command::Bench(BenchCommand::Memory(args)) => {
                commands::bench_outcome(preflight::bench::memory::run(args, cancel).await)
            }
        };
        ExitCode::from(outcome)
    });
    drop(runtime);
    if says_peak {
        if let Some(line) = commands::peak_memory_line() {
            eprintln!("{line}");
        }
    }
    code
}
