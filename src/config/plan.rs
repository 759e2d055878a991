//! The validated plan: everything a run needs, checked before any side effect.
//!
//! Flags and CI variables (already merged by clap) are laid over the configuration
//! file; URLs are parsed, required values checked, and every missing CI variable is
//! reported at once, so a misconfigured pipeline fails in one round trip.

use super::file::{
    BuiltinSection, DatabaseSection, EngineKind, FileConfig, LayoutChoice, SourceSection,
};
use crate::cli::{DemoArgs, RunArgs};
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
}

#[derive(Debug, Clone)]
pub struct DatabasePlan {
    pub name: String,
    pub db_name: String,
    pub migrations: PathBuf,
    pub layout: LayoutChoice,
}

#[derive(Debug, Clone)]
pub enum EnginePlan {
    Builtin(BuiltinSection),
    Dle { url: Url, token: Secret },
}

#[derive(Debug, Clone)]
pub struct ClonePlan {
    pub ready_timeout: Duration,
    pub restricted: bool,
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BoxPlan {
    pub image: String,
    pub migration_timeout: Duration,
    pub output_limit_bytes: u64,
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

#[derive(Debug, Clone)]
pub struct Plan {
    pub run_id: String,
    pub checkout: PathBuf,
    pub head_sha: Option<String>,
    pub selection: Selection,
    pub databases: Vec<DatabasePlan>,
    pub engine: EnginePlan,
    pub clone: ClonePlan,
    pub sandbox: BoxPlan,
    pub lock_sample_interval: Duration,
    pub artifacts_dir: PathBuf,
    pub templates_dir: Option<PathBuf>,
    pub job_url: Option<String>,
    pub publish: Publish,
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

fn database_plans(sections: Vec<DatabaseSection>) -> Result<Vec<DatabasePlan>, PlanError> {
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
        plans.push(DatabasePlan {
            name: d.name,
            db_name: d.db_name,
            migrations: d.migrations,
            layout: d.layout,
        });
    }
    if plans.is_empty() {
        return Err(PlanError::Invalid("`databases` is empty".into()));
    }
    Ok(plans)
}

fn new_run_id() -> String {
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
                    },
                    _ => EnginePlan::Builtin(file.builtin.clone()),
                }
            }
        };

        let publish = if args.print_only {
            Publish::Print
        } else {
            let url = args.gitlab_url.clone().or(file.gitlab.url.clone());
            let token = args.gitlab_token.clone().filter(|t| !t.is_empty());
            let project = args.project.clone().filter(|p| !p.is_empty());
            for (value, name) in [
                (url.is_some(), "CI_SERVER_URL (--gitlab-url) or gitlab.url"),
                (token.is_some(), "PREFLIGHT_GITLAB_TOKEN (--gitlab-token)"),
                (project.is_some(), "CI_MERGE_REQUEST_PROJECT_ID (--project)"),
                (args.mr_iid.is_some(), "CI_MERGE_REQUEST_IID (--mr-iid)"),
            ] {
                if !value {
                    missing.push(name.to_string());
                }
            }
            match (url, token, project, args.mr_iid) {
                (Some(url), Some(token), Some(project), Some(mr_iid)) => {
                    Publish::GitLab(GitlabTarget {
                        base_url: parse_url("the GitLab URL", &url)?,
                        token,
                        project,
                        mr_iid,
                    })
                }
                _ => Publish::Print,
            }
        };

        if !missing.is_empty() {
            return Err(PlanError::Missing(missing));
        }

        Ok(Plan {
            run_id: new_run_id(),
            checkout: args.checkout.unwrap_or_else(|| PathBuf::from(".")),
            head_sha: args.head_sha,
            selection,
            databases: database_plans(file.databases())?,
            engine,
            clone: ClonePlan {
                ready_timeout: file.engine.ready_timeout,
                restricted: file.engine.restricted,
                snapshot: file.engine.snapshot.clone(),
            },
            sandbox: BoxPlan {
                image: file.sandbox.image.clone(),
                migration_timeout: file.sandbox.migration_timeout,
                output_limit_bytes: file.sandbox.output_limit_bytes,
            },
            lock_sample_interval: file.observe.lock_sample_interval,
            artifacts_dir: args
                .artifacts_dir
                .unwrap_or(file.report.artifacts_dir.clone()),
            templates_dir: file.report.templates_dir.clone(),
            job_url: args.job_url,
            publish,
        })
    }

    /// The plan for `preflight demo`: the built-in engine on the generated dataset, the
    /// bundled examples (written to `checkout` by the caller), the note printed.
    pub fn for_demo(args: &DemoArgs, checkout: PathBuf) -> Plan {
        let mut builtin = BuiltinSection {
            source: SourceSection::Demo { rows: args.rows },
            ..BuiltinSection::default()
        };
        if let Some(dir) = &args.work_dir {
            builtin.work_dir = dir.clone();
        }
        let defaults = FileConfig::default();
        Plan {
            run_id: new_run_id(),
            checkout,
            head_sha: None,
            selection: Selection::All,
            databases: vec![DatabasePlan {
                name: "main".into(),
                db_name: "app".into(),
                migrations: PathBuf::from("migrations"),
                layout: LayoutChoice::Auto,
            }],
            engine: EnginePlan::Builtin(builtin),
            clone: ClonePlan {
                ready_timeout: defaults.engine.ready_timeout,
                restricted: true,
                snapshot: None,
            },
            sandbox: BoxPlan {
                image: args.image.clone(),
                migration_timeout: defaults.sandbox.migration_timeout,
                output_limit_bytes: defaults.sandbox.output_limit_bytes,
            },
            lock_sample_interval: defaults.observe.lock_sample_interval,
            artifacts_dir: args.artifacts_dir.clone(),
            templates_dir: None,
            job_url: None,
            publish: Publish::Print,
        }
    }
}
