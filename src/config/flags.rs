//! The run's flags, as the command line and the CI variables give them: the low-level
//! arguments [`super::plan::Plan::for_run`] checks and turns into a plan before anything
//! starts (ripgrep's habit: every error shows before any work).

use crate::secret::Secret;
use clap::Args;
use std::path::PathBuf;

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
    pub fail_on_findings: Option<super::file::FailOnFindings>,

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
