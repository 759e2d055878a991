//! PF-F01: the migration failed, timed out or was stopped at the disk limit.

use super::super::{finding, Evidence, Finding, Input};
use crate::model::MigrationOutcome;
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let what = match input.outcome {
        MigrationOutcome::Failed => input.sqlstate.unwrap_or("failed"),
        MigrationOutcome::TimedOut => "timeout",
        MigrationOutcome::DiskLimit => "disk_limit",
        _ => return Vec::new(),
    };
    vec![
        finding(RuleId::F01, what, super::failed_statement(input)).with(Evidence::new(
            "wall time",
            input.wall_s,
            "s",
        )),
    ]
}
