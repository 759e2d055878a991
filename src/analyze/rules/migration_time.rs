//! PF-D01 / PF-D02: the migration's wall time against the guideline for regular
//! (`findings.migration_s`) or post-deploy (`findings.post_deploy_migration_s`)
//! migrations.

use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let t = input.thresholds;
    let (id, limit) = match input.post_deploy {
        true => (RuleId::D02, t.post_deploy_migration_s),
        false => (RuleId::D01, t.migration_s),
    };
    if input.wall_s <= limit {
        return Vec::new();
    }
    vec![finding(id, "migration", None)
        .with(Evidence::new("wall time", input.wall_s, "s").against(limit))]
}
