//! The validated plan: everything a run needs, checked before any side effect.
//!
//! Flags and CI variables (already merged by clap) are laid over the configuration
//! file; URLs are parsed, required values checked, and every missing CI variable is
//! reported at once, so a misconfigured pipeline fails in one round trip.

use super::file::{BuiltinSection, DatabaseSection, EngineKind, FileConfig, LayoutChoice};
use super::flags::RunArgs;
use super::sections::HttpPolicy;
use crate::pg::migration_role::{session_settings, MigrationRole};
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;
use url::Url;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("cannot read the configuration file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {source}")]
    ParseConfig {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error(
        "missing required settings; set each as a CI variable or flag:\n{}",
        .0.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n")
    )]
    Missing(Vec<String>),
    #[error("{what} {value:?} is not a valid URL: {reason}")]
    BadUrl {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Which migrations to rehearse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every migration in the checkout (the demo; `--all-migrations`).
    All,
    /// Those absent at this commit (the merge base).
    SinceCommit(String),
    /// Those absent at the merge base of HEAD with this branch.
    SinceBranch(String),
    /// Those absent at the merge base GitLab records for the MR (`diff_refs.base_sha`).
    MrBase,
}

#[derive(Debug, Clone)]
pub struct DatabasePlan {
    pub name: String,
    pub db_name: String,
    /// The migrations directory, a path in the MR's repository (`db/migrations`).
    pub migrations: String,
    pub layout: LayoutChoice,
    /// The tool named in configuration; None: the layout decides.
    pub tool: Option<crate::model::tool::Tool>,
    pub post_deploy: bool,
    /// The role production migrates with.
    pub role: MigrationRole,
    /// Settings every session of the box starts with.
    pub session: Vec<(String, String)>,
    /// Rehearse each migration's down and its up again, where it has one.
    pub way_back: bool,
    /// How templated migrations are rendered (None: they are SQL as they are).
    pub template: Option<super::sections::TemplateSection>,
    /// Production's PostgreSQL major version, when configured.
    pub production_version: Option<u32>,
    /// Go on when the clone's major differs from `production_version`.
    pub allow_other_major: bool,
    /// The migration tool run by command, when configured.
    pub command: Option<super::sections::CommandSection>,
    /// Where declared queries come from besides the MR description, and how they run.
    pub queries: super::sections::QueriesSection,
}

#[derive(Debug, Clone)]
pub enum EnginePlan {
    Builtin(BuiltinSection),
    Dle {
        url: Url,
        token: Secret,
        /// The proxy trusted configuration names (`engine.proxy`), if any.
        proxy: Option<Url>,
    },
}

#[derive(Debug, Clone)]
pub struct ClonePlan {
    pub ready_timeout: Duration,
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BoxPlan {
    pub image: String,
    pub migration_timeout: Duration,
    pub output_limit_bytes: u64,
    /// The largest migration file read (memory per file is bounded by it).
    pub max_migration_bytes: u64,
    /// How much a rehearsal may grow the clone's database before it is stopped.
    pub disk_limit_bytes: u64,
}

/// Where the MR's code is read from (always as git objects, never as files).
#[derive(Debug, Clone)]
pub enum SourcePlan {
    /// The MR through GitLab's repository API, at this head SHA: the CI job's mode.
    Gitlab { head_sha: String },
    /// A repository on disk at `rev` (`--local-checkout`: the demo, tests, trying
    /// preflight by hand). Explicitly asked for, never the default.
    Local { repo: PathBuf, rev: String },
}

#[derive(Debug, Clone)]
pub struct GitlabTarget {
    pub base_url: Url,
    pub token: Secret,
    pub project: String,
    pub mr_iid: u64,
}

/// Where the public summary goes.
#[derive(Debug, Clone)]
pub enum Publish {
    /// Printed on standard output (demo, `--print-only`).
    Print,
    GitLab(GitlabTarget),
}

/// What the MR hears besides the final note (trusted configuration, `gitlab:`).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub placeholder: bool,
    /// The commit status's name; `None` sets none.
    pub commit_status: Option<String>,
    pub labels: crate::config::file::VerdictLabels,
}

impl Signals {
    fn from_section(g: &crate::config::file::GitlabSection) -> Result<Signals, PlanError> {
        let l = &g.labels;
        for label in [&l.passed, &l.findings, &l.failed] {
            if label.contains(',') || label.trim() != label {
                return Err(PlanError::Invalid(format!(
                    "gitlab.labels: {label:?} must have no comma and no leading or trailing space"
                )));
            }
        }
        Ok(Signals {
            placeholder: g.placeholder,
            commit_status: Some(g.commit_status.clone()).filter(|s| !s.is_empty()),
            labels: l.clone(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub source: SourcePlan,
    /// The MR's description as CI gives it (GitLab's API's, when read, wins): its
    /// declared queries. The MR's text, so hostile.
    pub mr_description: Option<String>,
    pub selection: Selection,
    pub databases: Vec<DatabasePlan>,
    pub engine: EnginePlan,
    /// What each database's rehearsal is handed (run id, clone, box, observing,
    /// thresholds, where logs go).
    pub rehearsal: RehearsalPlan,
    /// Where the findings' pages are, for the note's links.
    pub docs_url: String,
    pub templates_dir: Option<PathBuf>,
    pub job_url: Option<String>,
    /// The MR on GitLab, when its coordinates and a token are given.
    pub gitlab: Option<GitlabTarget>,
    pub gitlab_policy: HttpPolicy,
    /// What the MR hears besides the final note: placeholder, commit status, labels.
    pub signals: Signals,
    /// Findings at or above this severity fail the job too.
    pub fail_on_findings: Option<crate::model::Severity>,
    pub publish: Publish,
}

/// What a database's rehearsal needs of the plan and nothing more: no token, no GitLab
/// target, no engine address. The pipeline hands its steps this part, not the [`Plan`].
/// Also the artifacts directory and run id the reports use.
#[derive(Debug, Clone)]
pub struct RehearsalPlan {
    pub run_id: String,
    pub clone: ClonePlan,
    pub sandbox: BoxPlan,
    pub lock_sample_interval: Duration,
    pub thresholds: super::sections::Thresholds,
    pub traffic: super::sections::TrafficSection,
    pub batches: super::sections::BatchesSection,
    pub table_owners: super::table_owners::TableOwners,
    /// Where each database's migration logs go.
    pub artifacts_dir: PathBuf,
}

fn load_file(path: Option<&PathBuf>) -> Result<FileConfig, PlanError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    FileConfig::from_yaml(&text).map_err(|source| PlanError::ParseConfig {
        path: path.clone(),
        source,
    })
}

fn parse_url(what: &'static str, value: &str) -> Result<Url, PlanError> {
    let url = Url::parse(value).map_err(|e| PlanError::BadUrl {
        what,
        value: value.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(PlanError::BadUrl {
            what,
            value: value.to_string(),
            reason: "expected http:// or https:// with a host".into(),
        });
    }
    Ok(url)
}

/// The job's link is shown on the MR and set as the status's link, and `CI_JOB_URL` can
/// be overridden by a trigger variable: only a job page of the trusted GitLab
/// (`<gitlab>/<project path>/-/jobs/<id>`) is kept.
fn job_url_on(gitlab: Option<&Url>, job_url: &str) -> bool {
    let Ok(url) = Url::parse(job_url) else {
        return false;
    };
    let on_gitlab = gitlab.map_or(true, |g| {
        url.scheme() == g.scheme() && url.host_str() == g.host_str() && url.port() == g.port()
    });
    let job_page = url
        .path()
        .rsplit_once("/-/jobs/")
        .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let ok = on_gitlab && job_page && url.query().is_none() && url.fragment().is_none();
    if !ok {
        tracing::warn!(
            "CI_JOB_URL is not a job page of the configured GitLab; the note shows no job link"
        );
    }
    ok
}

fn table_owners(
    sections: &[DatabaseSection],
) -> Result<super::table_owners::TableOwners, PlanError> {
    super::table_owners::TableOwners::new(
        sections
            .iter()
            .map(|d| (d.name.clone(), d.tables.clone()))
            .collect(),
    )
    .map_err(|e| PlanError::Invalid(e.to_string()))
}

fn database_plans(
    sections: Vec<DatabaseSection>,
    restricted: bool,
) -> Result<Vec<DatabasePlan>, PlanError> {
    let mut seen = std::collections::HashSet::new();
    let mut plans = Vec::new();
    for d in sections {
        let valid_name = !d.name.is_empty()
            && d.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(PlanError::Invalid(format!(
                "database name {:?} must be letters, digits, '_' or '-'",
                d.name
            )));
        }
        if !seen.insert(d.name.clone()) {
            return Err(PlanError::Invalid(format!(
                "database {:?} is listed twice",
                d.name
            )));
        }
        let invalid =
            |e: &dyn std::fmt::Display| PlanError::Invalid(format!("database {:?}: {e}", d.name));
        let role = MigrationRole::from_section(d.role, restricted).map_err(|e| invalid(&e))?;
        let session = session_settings(d.session).map_err(|e| invalid(&e))?;
        if let Some(c) = &d.command {
            c.check().map_err(|e| invalid(&e))?;
        }
        plans.push(DatabasePlan {
            name: d.name,
            db_name: d.db_name,
            migrations: d.migrations.to_string_lossy().trim_matches('/').to_string(),
            layout: d.layout,
            tool: d.tool,
            post_deploy: d.post_deploy,
            role,
            session,
            way_back: d.way_back,
            template: d.template,
            production_version: d.production_version,
            allow_other_major: d.allow_other_major,
            command: d.command,
            queries: d.queries,
        });
    }
    if plans.is_empty() {
        return Err(PlanError::Invalid("`databases` is empty".into()));
    }
    Ok(plans)
}

/// Refuses trusted input (`what`, at `path`) that lies inside the MR's code: the MR's
/// author would choose it.
fn outside_mr_code(
    mr_code: &std::path::Path,
    what: &str,
    path: Option<&std::path::Path>,
) -> Result<(), PlanError> {
    let Some(path) = path else { return Ok(()) };
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
    if canonical(path).starts_with(canonical(mr_code)) {
        return Err(PlanError::Invalid(format!(
            "{what} {} lies inside the MR's code ({}); trusted configuration and templates \
             must come from the protected project's own checkout, never from the MR",
            path.display(),
            mr_code.display()
        )));
    }
    Ok(())
}

pub(super) fn new_run_id() -> String {
    let suffix = Secret::generate(6).expose().to_ascii_lowercase();
    format!("pf-{}-{suffix}", std::process::id())
}

impl Plan {
    /// The plan for `preflight run`.
    pub fn for_run(args: RunArgs) -> Result<Plan, PlanError> {
        let file = load_file(args.config.as_ref())?;
        let mut missing = Vec::new();

        let selection = if args.all_migrations {
            Selection::All
        } else if let Some(sha) = args.base_sha.clone().filter(|s| !s.is_empty()) {
            Selection::SinceCommit(sha)
        } else if let Some(branch) = args.target_branch.clone().filter(|s| !s.is_empty()) {
            Selection::SinceBranch(branch)
        } else if args.local_checkout.is_none() {
            Selection::MrBase
        } else {
            missing.push(
                "the merge base: CI_MERGE_REQUEST_DIFF_BASE_SHA (--base-sha) or \
                 CI_MERGE_REQUEST_TARGET_BRANCH_NAME (--target-branch)"
                    .to_string(),
            );
            Selection::All
        };

        let engine_kind = if args.engine_url.is_some() {
            EngineKind::Dle
        } else {
            file.engine.kind
        };
        let engine = match engine_kind {
            EngineKind::Builtin => EnginePlan::Builtin(file.builtin.clone()),
            EngineKind::Dle => {
                let url = args.engine_url.clone().or(file.engine.url.clone());
                let token = args.engine_token.clone().filter(|t| !t.is_empty());
                if url.is_none() {
                    missing.push("PREFLIGHT_ENGINE_URL (--engine-url) or engine.url".into());
                }
                if token.is_none() {
                    missing.push("PREFLIGHT_ENGINE_TOKEN (--engine-token)".into());
                }
                match (url, token) {
                    (Some(url), Some(token)) => EnginePlan::Dle {
                        url: parse_url("the engine URL", &url)?,
                        token,
                        proxy: file
                            .engine
                            .proxy
                            .as_deref()
                            .map(|p| parse_url("engine.proxy", p))
                            .transpose()?,
                    },
                    _ => EnginePlan::Builtin(file.builtin.clone()),
                }
            }
        };

        let gitlab = {
            let url = args.gitlab_url.clone().or(file.gitlab.url.clone());
            let token = args.gitlab_token.clone().filter(|t| !t.is_empty());
            let project = args.project.clone().filter(|p| !p.is_empty());
            let needed = !args.print_only || args.local_checkout.is_none();
            for (value, name) in [
                (url.is_some(), "CI_SERVER_URL (--gitlab-url) or gitlab.url"),
                (token.is_some(), "PREFLIGHT_GITLAB_TOKEN (--gitlab-token)"),
                (project.is_some(), "CI_MERGE_REQUEST_PROJECT_ID (--project)"),
                (args.mr_iid.is_some(), "CI_MERGE_REQUEST_IID (--mr-iid)"),
            ] {
                if needed && !value {
                    missing.push(name.to_string());
                }
            }
            match (url, token, project, args.mr_iid) {
                (Some(url), Some(token), Some(project), Some(mr_iid)) => Some(GitlabTarget {
                    base_url: parse_url("the GitLab URL", &url)?,
                    token,
                    project,
                    mr_iid,
                }),
                _ => None,
            }
        };
        let publish = match (&gitlab, args.print_only) {
            (Some(target), false) => Publish::GitLab(target.clone()),
            _ => Publish::Print,
        };
        let head_sha = args.head_sha.clone().filter(|s| !s.is_empty());
        let source = match &args.local_checkout {
            Some(repo) => SourcePlan::Local {
                repo: repo.clone(),
                rev: head_sha.clone().unwrap_or_else(|| "HEAD".into()),
            },
            None => {
                if head_sha.is_none() {
                    missing.push(
                        "the MR head to rehearse: PREFLIGHT_MR_HEAD_SHA (--head-sha), or \
                         --local-checkout DIR to read a repository on disk"
                            .to_string(),
                    );
                }
                SourcePlan::Gitlab {
                    head_sha: head_sha.clone().unwrap_or_default(),
                }
            }
        };

        if !missing.is_empty() {
            return Err(PlanError::Missing(missing));
        }

        let templates_dir = file.report.templates_dir.clone();
        if let SourcePlan::Local { repo, .. } = &source {
            outside_mr_code(repo, "the configuration file", args.config.as_deref())?;
            outside_mr_code(repo, "report.templates_dir", templates_dir.as_deref())?;
        }
        Ok(Plan {
            source,
            mr_description: args.mr_description.clone(),
            selection,
            databases: database_plans(file.databases(), file.engine.restricted)?,
            engine,
            rehearsal: RehearsalPlan {
                run_id: new_run_id(),
                clone: ClonePlan {
                    ready_timeout: file.engine.ready_timeout,
                    snapshot: file.engine.snapshot.clone(),
                },
                sandbox: BoxPlan {
                    image: file.sandbox.image.clone(),
                    migration_timeout: file.sandbox.migration_timeout,
                    output_limit_bytes: file.sandbox.output_limit_bytes,
                    max_migration_bytes: file.sandbox.max_migration_bytes,
                    disk_limit_bytes: file.sandbox.disk_limit_bytes,
                },
                lock_sample_interval: file.observe.lock_sample_interval,
                thresholds: file.findings.clone(),
                traffic: file.traffic.clone(),
                batches: file.batches.clone(),
                table_owners: table_owners(&file.databases())?,
                artifacts_dir: args
                    .artifacts_dir
                    .unwrap_or(file.report.artifacts_dir.clone()),
            },
            docs_url: file.report.docs_url.trim_end_matches('/').to_string(),
            templates_dir,
            job_url: args
                .job_url
                .filter(|u| job_url_on(gitlab.as_ref().map(|g| &g.base_url), u)),
            gitlab,
            signals: Signals::from_section(&file.gitlab)?,
            fail_on_findings: args
                .fail_on_findings
                .unwrap_or(file.policy.fail_on_findings)
                .severity(),
            gitlab_policy: HttpPolicy {
                connect_timeout: file.gitlab.connect_timeout,
                request_timeout: file.gitlab.request_timeout,
                attempts: file.gitlab.attempts.max(1),
                proxy: file
                    .gitlab
                    .proxy
                    .as_deref()
                    .map(|p| parse_url("gitlab.proxy", p))
                    .transpose()?,
                ..HttpPolicy::default()
            },
            publish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::job_url_on;

    #[test]
    fn only_a_job_page_of_the_configured_gitlab_is_a_job_link() {
        let gitlab: url::Url = "https://gitlab.example.com".parse().unwrap();
        let on = |u: &str| job_url_on(Some(&gitlab), u);
        assert!(on("https://gitlab.example.com/db/preflight/-/jobs/77"));
        assert!(!on("https://phish.example/db/preflight/-/jobs/77"));
        assert!(!on("http://gitlab.example.com/db/preflight/-/jobs/77"));
        assert!(!on("https://gitlab.example.com/db/preflight/-/jobs/77?x=1"));
        assert!(!on(
            "https://gitlab.example.com/db/preflight/-/jobs/77/../../x"
        ));
        assert!(!on("https://gitlab.example.com/-/jobs/"));
        assert!(!on("javascript:alert(1)//-/jobs/1"));
        assert!(job_url_on(None, "https://gitlab.example.com/g/p/-/jobs/5"));
    }
}
