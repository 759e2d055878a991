//! What the process exit status means: the pipeline reads it, so each outcome of a run
//! has its own documented code (see the README's "Exit codes").

/// How a run ended, from the pipeline's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every migration succeeded (or there were none to rehearse).
    Success,
    /// At least one migration failed or timed out on the clone.
    MigrationFailed,
    /// The configuration, the CI variables or the command line were wrong.
    Usage,
    /// Something preflight depends on failed: Docker, the clone engine, GitLab, the disk.
    Infrastructure,
    /// The job was cancelled (SIGTERM or Ctrl-C); cleanup still ran.
    Cancelled,
    /// Every migration succeeded, but findings reached `policy.fail_on_findings`.
    Findings,
    /// The MR's files break a rule (a link, a submodule, a file too large): nothing ran,
    /// and the MR's note says which file and which rule.
    Refused,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::MigrationFailed => 1,
            Outcome::Usage => 2,
            Outcome::Infrastructure => 3,
            Outcome::Cancelled => 4,
            Outcome::Findings => 5,
            Outcome::Refused => 6,
        }
    }
}

impl From<Outcome> for std::process::ExitCode {
    fn from(o: Outcome) -> Self {
        std::process::ExitCode::from(o.code())
    }
}
