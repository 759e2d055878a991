//! The command line: `preflight run` (the CI job), `preflight demo` (the same job on
//! built-in defaults), `preflight engine serve` (the clone engine service) and
//! `preflight bench clones` (its benchmark). Flags win over CI variables (read through
//! `env = ...`), which win over the configuration file.

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
pub struct BenchMemoryArgs {
    /// One-line statements in the migration.
    #[arg(long, default_value_t = 300_000)]
    pub statements: usize,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchTraceArgs {
    /// Rows of the table case (a) builds an index on.
    #[arg(long, default_value_t = 5_000_000)]
    pub rows: u64,

    /// Statements in case (b)'s migration.
    #[arg(long, default_value_t = 10_000)]
    pub statements: usize,

    /// In case (b), every this many statements one is a schema change (0: none).
    #[arg(long, default_value_t = 10)]
    pub ddl_every: usize,

    /// Runs per case and relay (interleaved, each on a fresh clone).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Generated traffic beside every traced migration, statements per second (0: none).
    #[arg(long, default_value_t = 0)]
    pub traffic_rate: u32,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchClonesArgs {
    /// Dataset sizes in GB.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.1, 1.0, 5.0])]
    pub sizes: Vec<f64>,

    /// Runs per measurement.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Backends to measure (btrfs needs a btrfs pool: --btrfs-dir or ops/btrfs-pool.sh).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["btrfs".to_string(), "copy".to_string()])]
    pub backends: Vec<String>,

    /// A directory on btrfs for the btrfs pools (default: a loop file made and removed
    /// by the benchmark, which needs root and btrfs-progs).
    #[arg(long, value_name = "DIR")]
    pub btrfs_dir: Option<PathBuf>,

    /// A directory on a filesystem without copy-on-write for the copy pools.
    #[arg(long, value_name = "DIR")]
    pub copy_dir: Option<PathBuf>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Trusted configuration file (YAML). Missing keys take their defaults.
    #[arg(long, env = "PREFLIGHT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read the MR's code from this git repository on disk (at --head-sha, or HEAD)
    /// instead of from GitLab: for trying preflight by hand and for tests. Only git
    /// objects are read, never the working tree.
    #[arg(long, env = "PREFLIGHT_LOCAL_CHECKOUT", value_name = "DIR")]
    pub local_checkout: Option<PathBuf>,

    /// The MR's description (its "preflight queries" blocks are planned before and after
    /// the migrations); GitLab's API's is used instead when the MR is read from GitLab.
    #[arg(
        long,
        env = "CI_MERGE_REQUEST_DESCRIPTION",
        value_name = "TEXT",
        hide_env_values = true
    )]
    pub mr_description: Option<String>,

    /// Merge base of the MR with its target branch: migrations absent there are new.
    #[arg(long, env = "CI_MERGE_REQUEST_DIFF_BASE_SHA", value_name = "SHA")]
    pub base_sha: Option<String>,

    /// Target branch, used to compute the merge base when no base SHA is given.
    #[arg(
        long,
        env = "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        value_name = "BRANCH"
    )]
    pub target_branch: Option<String>,

    /// The MR head commit to rehearse; the job refuses to run if the MR's head is no
    /// longer this commit.
    #[arg(long, env = "PREFLIGHT_MR_HEAD_SHA", value_name = "SHA")]
    pub head_sha: Option<String>,

    /// Rehearse every migration at the MR's head, not only those the MR adds.
    #[arg(long)]
    pub all_migrations: bool,

    /// Also fail the job (exit 5) on findings at or above this severity; overrides
    /// `policy.fail_on_findings` (a flag only: no variable can set it).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on_findings: Option<crate::config::file::FailOnFindings>,

    /// GitLab base URL, e.g. https://gitlab.example.com.
    #[arg(long, env = "CI_SERVER_URL", value_name = "URL")]
    pub gitlab_url: Option<String>,

    /// Token with `api` scope, used only to post the note. Never enters the box.
    #[arg(
        long,
        env = "PREFLIGHT_GITLAB_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub gitlab_token: Option<Secret>,

    /// Project (numeric id or full path) the MR belongs to.
    #[arg(long, env = "CI_MERGE_REQUEST_PROJECT_ID", value_name = "ID")]
    pub project: Option<String>,

    /// The MR's internal id (IID).
    #[arg(long, env = "CI_MERGE_REQUEST_IID", value_name = "IID")]
    pub mr_iid: Option<u64>,

    /// Link to this (protected) job, shown in the note as the place for full detail.
    #[arg(long, env = "CI_JOB_URL", value_name = "URL")]
    pub job_url: Option<String>,

    /// Clone engine URL (Database Lab API); implies `engine.kind: dle`.
    #[arg(long, env = "PREFLIGHT_ENGINE_URL", value_name = "URL")]
    pub engine_url: Option<String>,

    /// Clone engine verification token.
    #[arg(
        long,
        env = "PREFLIGHT_ENGINE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub engine_token: Option<Secret>,

    /// Where the full report goes (JSON, Markdown and per-migration logs).
    #[arg(long, env = "PREFLIGHT_ARTIFACTS_DIR", value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,

    /// Print the MR note instead of posting it (no GitLab variables needed).
    #[arg(long)]
    pub print_only: bool,

    /// The job's `after_script`: if this head's run was killed before it finished (its
    /// note still says "rehearsing ..."), say so on the MR and fail its status; nothing
    /// is rehearsed.
    #[arg(long)]
    pub finish_abandoned: bool,
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
