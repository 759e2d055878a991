//! The command line: `preflight run` (the CI job), `preflight demo` (the same job on
//! built-in defaults), `preflight engine serve` (the clone engine service) and
//! `preflight bench clones` (its benchmark). Flags win over CI variables (read through
//! `env = ...`), which win over the configuration file.

pub use crate::bench::{clones::BenchClonesArgs, memory::BenchMemoryArgs, trace::BenchTraceArgs};
pub use crate::config::flags::RunArgs;
use crate::secret::Secret;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "preflight",
    version,
    about = "Rehearses a merge request's database migrations on a thin clone of production, \
             inside a container with no network, and posts a summary that is safe to read.",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The CI job: rehearse the migrations an MR adds and post the summary on the MR.
    ///
    /// Reads the MR's coordinates from GitLab CI variables, finds the migrations present
    /// at the MR head and absent at the merge base, runs them in a box with no network
    /// against a fresh clone, writes the full report to the artifacts directory and
    /// posts (or updates) one note on the MR. Exit codes: 0 success, 1 a migration
    /// failed, 2 refused (the MR or the configuration), 3 infrastructure error, 4 cancelled.
    Run(Box<RunArgs>),
    /// Rehearse the bundled example migrations on a generated dataset and print the MR
    /// comment that `run` would post. Needs Docker and PostgreSQL 15, nothing else.
    Demo(DemoArgs),
    /// The clone engine service.
    #[command(subcommand)]
    Engine(EngineCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Serve the Database Lab clone API: snapshots of the source, thin clones of them
    /// (btrfs, or full copies elsewhere), one PostgreSQL server per clone.
    Serve(ServeArgs),
    /// Relays a confined clone's port to its server (started by the engine itself).
    #[command(hide = true)]
    Relay(crate::engine::relay::RelayArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Engine configuration file (YAML); every key has a default.
    #[arg(long, env = "PREFLIGHT_ENGINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// The verification token clients send (unless `token_file` is set).
    #[arg(
        long,
        env = "PREFLIGHT_ENGINE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Clone-ready and reset times per backend and dataset size, and 8 creations at once.
    Clones(BenchClonesArgs),
    /// What observing a migration costs: traced vs. the plain relay, wall time and lock hold.
    Trace(BenchTraceArgs),
    /// What a migration of many statements costs the job: peak memory and artifacts.
    Memory(BenchMemoryArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rows in the generated `accounts` table.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,

    /// Where the full report goes.
    #[arg(long, default_value = "preflight-artifacts", value_name = "DIR")]
    pub artifacts_dir: PathBuf,

    /// The built-in engine's working directory (golden copy and clones).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Box image to run the migrations in (the tools image for alembic and django).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Which example to rehearse: SQL files, or a project run by its own tool.
    #[arg(long, value_enum, default_value = "sql")]
    pub example: crate::demo_examples::Example,
}
