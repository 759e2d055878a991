//! PF-T04: a `json` column added (jsonb is almost always what is wanted).

use super::super::{finding, Finding, Input};
use super::statement_naming;
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    after
        .columns
        .iter()
        .filter(|(key, col)| !before.columns.contains_key(key) && col.type_name == "json")
        .map(|((rel, _), col)| {
            let st = statement_naming(input, &["ALTER TABLE", "CREATE TABLE"], &col.name);
            finding(
                RuleId::T04,
                format!("{}.{}", after.name(*rel), col.name),
                st,
            )
        })
        .collect()
}
