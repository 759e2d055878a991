//! PF-C01: a CHECK or FOREIGN KEY constraint added to a table that existed before,
//! already valid: the table is scanned under the lock. `NOT VALID` then `VALIDATE` in
//! another transaction is the safe pattern.

use super::super::{Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    super::added_constraints::added(input, true)
        .iter()
        .filter(|a| matches!(a.constraint.kind.as_str(), "c" | "f"))
        .filter(|a| a.constraint.validated && !a.asked.as_ref().is_some_and(|x| x.not_valid))
        .map(|a| a.finding(input, RuleId::C01))
        .collect()
}
