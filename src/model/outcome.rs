//! How a run ended, decided once from its facts ([`decide`]). The exit code, the commit
//! status, the MR's label, the note's headline and report.json all read the one
//! [`Ending`] it gives, so they cannot disagree (a cleanup failure is an error in the
//! note as in the exit code; a cancelled run is cancelled everywhere).

pub use crate::exit::Outcome;
use serde::Serialize;

/// How one migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationOutcome {
    Succeeded,
    Failed,
    TimedOut,
    /// Stopped because the clone's database grew past `box.disk_limit_bytes`.
    DiskLimit,
    /// Not run, because an earlier migration failed or the run was cancelled.
    Skipped,
}

/// Every result a migration row can show (a closed vocabulary of the leak gate).
pub const RESULTS: &[&str] = &["success", "failure", "timeout", "disk_limit", "skipped"];

impl MigrationOutcome {
    /// Its result as the public summary shows it (one of [`RESULTS`]).
    pub fn result(self) -> &'static str {
        match self {
            MigrationOutcome::Succeeded => "success",
            MigrationOutcome::Failed => "failure",
            MigrationOutcome::TimedOut => "timeout",
            MigrationOutcome::DiskLimit => "disk_limit",
            MigrationOutcome::Skipped => "skipped",
        }
    }
}

/// What is known about a run when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// The job was cancelled (SIGTERM).
    pub cancelled: bool,
    /// The MR's files break a rule, so nothing ran.
    pub refused: bool,
    /// An infrastructure error stopped a database's rehearsal, cleanup left something
    /// behind, or the reports could not be written.
    pub infrastructure: bool,
    /// A migration failed, timed out or was stopped at the disk limit.
    pub migration_failed: bool,
    /// How many new migrations the MR has.
    pub migrations: usize,
    /// Findings not acknowledged in the migrations' source.
    pub unacknowledged: usize,
    /// Some of them reach `policy.fail_on_findings`.
    pub over_policy: bool,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every migration succeeded and nothing unacknowledged was found.
    #[default]
    Passed,
    /// Every migration succeeded; findings were raised, below the policy's severity.
    Findings,
    /// Every migration succeeded; findings reached `policy.fail_on_findings`.
    OverPolicy,
    /// A migration failed on the clone.
    MigrationFailed,
    /// The rehearsal could not finish, or what it made could not be cleaned up or
    /// reported.
    Infrastructure,
    Cancelled,
    /// The MR adds no migrations.
    NothingToDo,
    /// The MR's files break a rule (a link, a submodule, a file too large).
    Refused,
    /// The run was killed before it finished (out of memory, the job's timeout); the
    /// job's `after_script` says so on the MR.
    Stopped,
}

/// The one place a run's end is decided: cancellation first, then what stopped the
/// rehearsal or its cleanup, then the migrations, then the findings policy.
pub fn decide(f: &Facts) -> Ending {
    if f.cancelled {
        Ending::Cancelled
    } else if f.refused {
        Ending::Refused
    } else if f.infrastructure {
        Ending::Infrastructure
    } else if f.migration_failed {
        Ending::MigrationFailed
    } else if f.migrations == 0 {
        Ending::NothingToDo
    } else if f.over_policy {
        Ending::OverPolicy
    } else if f.unacknowledged > 0 {
        Ending::Findings
    } else {
        Ending::Passed
    }
}

/// The commit status an ending sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStatus {
    Success,
    Failed,
    Canceled,
}

/// The label an ending puts on the MR (the configured names of these three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Passed,
    Findings,
    Failed,
}

impl Ending {
    /// The process's exit status.
    pub fn outcome(self) -> Outcome {
        match self {
            Ending::Passed | Ending::Findings | Ending::NothingToDo => Outcome::Success,
            Ending::OverPolicy => Outcome::Findings,
            Ending::MigrationFailed => Outcome::MigrationFailed,
            Ending::Infrastructure => Outcome::Infrastructure,
            Ending::Cancelled => Outcome::Cancelled,
            Ending::Refused => Outcome::Refused,
            Ending::Stopped => Outcome::Infrastructure,
        }
    }

    /// The note's headline (the summary template's `status`).
    pub fn headline(self) -> &'static str {
        match self {
            Ending::Passed | Ending::Findings => "success",
            Ending::OverPolicy => "findings",
            Ending::MigrationFailed => "failure",
            Ending::Infrastructure => "error",
            Ending::Cancelled => "cancelled",
            Ending::NothingToDo => "nothing_to_do",
            Ending::Refused => "refused",
            Ending::Stopped => "stopped",
        }
    }

    pub fn commit_status(self) -> CommitStatus {
        match self {
            Ending::Passed | Ending::Findings | Ending::NothingToDo => CommitStatus::Success,
            Ending::OverPolicy
            | Ending::MigrationFailed
            | Ending::Infrastructure
            | Ending::Refused
            | Ending::Stopped => CommitStatus::Failed,
            Ending::Cancelled => CommitStatus::Canceled,
        }
    }

    /// The MR's label; none for a cancelled run (the last label stays).
    pub fn label(self) -> Option<Label> {
        match self {
            Ending::Passed | Ending::NothingToDo => Some(Label::Passed),
            Ending::Findings | Ending::OverPolicy => Some(Label::Findings),
            Ending::MigrationFailed
            | Ending::Infrastructure
            | Ending::Refused
            | Ending::Stopped => Some(Label::Failed),
            Ending::Cancelled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_of_an_ending_reads_the_one_decision() {
        let base = Facts {
            migrations: 3,
            ..Facts::default()
        };
        let cases = [
            (
                base,
                Ending::Passed,
                0,
                "success",
                CommitStatus::Success,
                Some(Label::Passed),
            ),
            (
                Facts {
                    unacknowledged: 2,
                    ..base
                },
                Ending::Findings,
                0,
                "success",
                CommitStatus::Success,
                Some(Label::Findings),
            ),
            (
                Facts {
                    unacknowledged: 2,
                    over_policy: true,
                    ..base
                },
                Ending::OverPolicy,
                5,
                "findings",
                CommitStatus::Failed,
                Some(Label::Findings),
            ),
            (
                Facts {
                    migration_failed: true,
                    ..base
                },
                Ending::MigrationFailed,
                1,
                "failure",
                CommitStatus::Failed,
                Some(Label::Failed),
            ),
            // A cleanup failure after migrations that all succeeded is an error
            // everywhere, the note's headline included.
            (
                Facts {
                    infrastructure: true,
                    unacknowledged: 1,
                    ..base
                },
                Ending::Infrastructure,
                3,
                "error",
                CommitStatus::Failed,
                Some(Label::Failed),
            ),
            (
                Facts {
                    cancelled: true,
                    infrastructure: true,
                    migration_failed: true,
                    ..base
                },
                Ending::Cancelled,
                4,
                "cancelled",
                CommitStatus::Canceled,
                None,
            ),
            (
                Facts {
                    refused: true,
                    migrations: 0,
                    ..base
                },
                Ending::Refused,
                6,
                "refused",
                CommitStatus::Failed,
                Some(Label::Failed),
            ),
            (
                Facts {
                    migrations: 0,
                    ..base
                },
                Ending::NothingToDo,
                0,
                "nothing_to_do",
                CommitStatus::Success,
                Some(Label::Passed),
            ),
        ];
        for (facts, ending, code, headline, status, label) in cases {
            let e = decide(&facts);
            assert_eq!(e, ending, "{facts:?}");
            assert_eq!(e.outcome().code(), code, "{facts:?}");
            assert_eq!(e.headline(), headline, "{facts:?}");
            assert_eq!(e.commit_status(), status, "{facts:?}");
            assert_eq!(e.label(), label, "{facts:?}");
        }
    }
}
