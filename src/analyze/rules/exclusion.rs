//! PF-C05: an exclusion constraint added to a table that existed before (its index is
//! built under ACCESS EXCLUSIVE, and it has no concurrent form).

use super::super::{Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    super::added_constraints::added(input, true)
        .iter()
        .filter(|a| a.constraint.kind == "x")
        .map(|a| a.finding(input, RuleId::C05))
        .collect()
}
