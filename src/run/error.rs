//! Why a run stopped before it could report, and the exit code that follows: decided
//! here once. The MR's or the configuration's fault is the user's to fix (exit 2);
//! GitLab, git, Docker or the engine failing is infrastructure (exit 3); a cancelled
//! job is cancelled (exit 4), never reported as some other error.

use crate::exit::Outcome;
use crate::migrations::layout::LayoutError;
pub use crate::model::refusal::{Refusal, Rule};
use crate::source::SourceError;
use crate::tools::command::DiscoveryError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    /// The MR's files break a rule (exit 6): its author hears why on the MR.
    #[error("{message}")]
    Refused { refusal: Refusal, message: String },
    /// The configuration or the job's variables are wrong (exit 2).
    #[error("{0}")]
    Input(String),
    /// Something preflight depends on failed (exit 3).
    #[error("{0}")]
    Infrastructure(String),
    /// The job was cancelled before anything was reported (exit 4).
    #[error("cancelled before the rehearsal started")]
    Cancelled,
}

impl RunError {
    pub fn outcome(&self) -> Outcome {
        match self {
            RunError::Refused { .. } => Outcome::Refused,
            RunError::Input(_) => Outcome::Usage,
            RunError::Infrastructure(_) => Outcome::Infrastructure,
            RunError::Cancelled => Outcome::Cancelled,
        }
    }

    /// `e`, said of `context` (a database's name, a step).
    pub fn from_source(context: &str, e: SourceError) -> RunError {
        let text = format!("{context}{e}");
        let refused = |path: &str, rule| RunError::Refused {
            refusal: Refusal {
                path: path.to_string(),
                rule,
            },
            message: text.clone(),
        };
        match &e {
            SourceError::GitMissing(_) | SourceError::Gitlab(_) => RunError::Infrastructure(text),
            SourceError::NotRegular { path, kind } => refused(
                path,
                match kind {
                    crate::source::EntryKind::Symlink => Rule::Link,
                    crate::source::EntryKind::Submodule => Rule::Submodule,
                    _ => Rule::NotAFile,
                },
            ),
            SourceError::UnknownMode { path, .. } => refused(path, Rule::NotAFile),
            SourceError::TooLarge { path, .. } => refused(path, Rule::TooLarge),
            _ => RunError::Input(text),
        }
    }

    pub fn from_discovery(context: &str, e: DiscoveryError) -> RunError {
        let e = match e {
            DiscoveryError::Source(e) => return RunError::from_source(context, e),
            e => e,
        };
        let message = format!("{context}{e}");
        let (path, rule) = match e {
            DiscoveryError::NoRevision { path } | DiscoveryError::NotDjangoName { path } => {
                (path, Rule::Unnamed)
            }
            DiscoveryError::Branches { dir, .. } | DiscoveryError::NotAChain { dir } => {
                (dir, Rule::History)
            }
            DiscoveryError::NotPlainName { path } => (path, Rule::NotAFile),
            DiscoveryError::ProjectTooLarge { project } => (project, Rule::ProjectTooLarge),
            DiscoveryError::NoDirectory { .. } | DiscoveryError::Source(_) => {
                return RunError::Input(message)
            }
        };
        RunError::Refused {
            refusal: Refusal { path, rule },
            message,
        }
    }

    pub fn from_layout(context: &str, e: LayoutError) -> RunError {
        match e {
            LayoutError::Source(e) => RunError::from_source(context, e),
            LayoutError::DuplicateVersion { ref dir, ref b, .. } => RunError::Refused {
                refusal: Refusal {
                    path: format!("{}/{b}", dir.trim_end_matches('/')),
                    rule: Rule::DuplicateVersion,
                },
                message: format!("{context}{e}"),
            },
            other => RunError::Input(format!("{context}{other}")),
        }
    }
}

/// Why one database's rehearsal stopped before its migrations were all reported (its
/// report keeps the text as `error`); a cancellation is its own variant, the run's fact.
#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error("the job was cancelled")]
    Cancelled,
    #[error("staging the migrations for the box: {0}")]
    Stage(#[from] crate::exec::StageError),
    #[error(transparent)]
    Clone(#[from] crate::clone::CloneError),
    #[error("observing the clone: {0}")]
    Observe(#[from] crate::observe::ObserveError),
    #[error(transparent)]
    Role(#[from] crate::pg::migration_role::RoleError),
    #[error(transparent)]
    Bridge(#[from] crate::bridge::BridgeError),
    #[error("the box: {0}")]
    Box(crate::sandbox::BoxError),
    #[error(transparent)]
    Step(crate::run::step::StepError),
    #[error(
        "production runs PostgreSQL {production}, but the clone runs {clone}: a rehearsal on \
         another major is not one; give the engine a snapshot of {production} (a source of \
         production, or builtin.postgres_major: {production} after ops/pg-major.sh \
         {production}), or set databases[].allow_other_major: true to go on with a warning"
    )]
    OtherMajor { production: u32, clone: String },
    #[error("cannot create {path}: {source}")]
    Artifacts {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::sandbox::BoxError> for DatabaseError {
    fn from(e: crate::sandbox::BoxError) -> Self {
        match e {
            crate::sandbox::BoxError::Cancelled => DatabaseError::Cancelled,
            e => DatabaseError::Box(e),
        }
    }
}

impl From<crate::run::step::StepError> for DatabaseError {
    fn from(e: crate::run::step::StepError) -> Self {
        match e {
            crate::run::step::StepError::Cancelled => DatabaseError::Cancelled,
            e => DatabaseError::Step(e),
        }
    }
}

/// Why the full report or one of its views could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("the {which} report's template failed; report.json has it all")]
    Template {
        which: &'static str,
        #[source]
        source: crate::report::render::RenderError,
    },
    #[error("cannot encode report.json")]
    Json(#[from] serde_json::Error),
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// Writes `text` to `path`, or says which file could not be written.
    pub fn write(path: std::path::PathBuf, text: &str) -> Result<(), ReportError> {
        std::fs::write(&path, text).map_err(|source| ReportError::Write { path, source })
    }
}
