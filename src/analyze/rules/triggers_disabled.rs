//! PF-C06: `ALTER TABLE ... DISABLE TRIGGER` on a table that existed before: while
//! they are off, foreign keys (which are triggers) and the application's triggers are
//! not enforced, so data changed meanwhile can break them for good.

use super::super::sql::disables_triggers;
use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for st in input
        .trace
        .statements
        .iter()
        .filter(|s| s.kind == "ALTER TABLE")
    {
        for table in disables_triggers(&st.text) {
            let Some(rel) = input.before.relations.values().find(|r| r.name == table) else {
                continue;
            };
            let later = input
                .trace
                .statements
                .iter()
                .filter(|s| {
                    s.index > st.index
                        && matches!(
                            s.kind.as_str(),
                            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY"
                        )
                })
                .count();
            out.push(
                finding(RuleId::C06, rel.display(), Some(st)).with(Evidence::new(
                    "data statements run after it",
                    later as f64,
                    "statements",
                )),
            );
        }
    }
    out
}
