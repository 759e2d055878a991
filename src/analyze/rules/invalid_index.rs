//! PF-I04: an index left INVALID after the migration (a failed concurrent build).

use super::super::{finding, Evidence, Finding, Input};
use super::statement_naming;
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    let mut out = Vec::new();
    for (oid, idx) in &after.indexes {
        let Some(rel) = after.relations.get(oid) else {
            continue;
        };
        if !idx.valid && before.indexes.get(oid).map_or(true, |b| b.valid) {
            let st = statement_naming(input, &["CREATE INDEX", "REINDEX"], &rel.name);
            out.push(finding(RuleId::I04, rel.display(), st).with(Evidence::new(
                "invalid indexes left",
                1.0,
                "indexes",
            )));
        }
    }
    out
}
