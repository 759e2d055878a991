//! PF-C03: a UNIQUE or PRIMARY KEY constraint added to a table that existed before
//! built its index inside `ALTER TABLE`, under ACCESS EXCLUSIVE. Building the index
//! concurrently and adding the constraint `USING INDEX` is the safe pattern.

use super::super::{Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    super::added_constraints::added(input, true)
        .iter()
        .filter(|a| matches!(a.constraint.kind.as_str(), "u" | "p"))
        .filter(|a| !input.before.indexes.contains_key(&a.constraint.index))
        .filter(|a| !a.asked.as_ref().is_some_and(|x| x.using_index))
        .map(|a| a.finding(input, RuleId::C03))
        .collect()
}
