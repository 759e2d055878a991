//! PF-I01: an index built on a table that existed before without `CONCURRENTLY`, which
//! blocks the table's writes for the whole build. Several indexes built on one table in
//! one transaction are one cause, listing them.

use super::super::sql::concurrently;
use super::super::{finding, Finding, Input, LockEvidence};
use super::{by_size, statement_naming};
use crate::model::RuleId;
use crate::pg::catalog::Catalog;
use std::collections::BTreeMap;

/// An index of this name on this table in `cat`.
pub(super) fn has_index_named(cat: &Catalog, table: i64, name: &str) -> bool {
    cat.indexes
        .iter()
        .any(|(oid, i)| i.table == table && cat.relations.get(oid).is_some_and(|r| r.name == name))
}

/// An index built, and the trace position of the statement that built it.
type Built = (String, Option<usize>);

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    let constraint_index = |oid: i64| after.constraints.values().any(|c| c.index == oid);
    // (table, transaction) -> the indexes built, with the statement that built each.
    let mut built: BTreeMap<(i64, usize), Vec<Built>> = BTreeMap::new();
    for (oid, idx) in &after.indexes {
        let Some(rel) = after.relations.get(oid) else {
            continue;
        };
        let new_on_old_table = !before.indexes.contains_key(oid)
            && input.preexisting(idx.table)
            && !has_index_named(before, idx.table, &rel.name)
            && !constraint_index(*oid);
        if !new_on_old_table {
            continue;
        }
        let st = statement_naming(input, &["CREATE INDEX"], &rel.name)
            .or_else(|| statement_naming(input, &["CREATE INDEX"], &after.name(idx.table)));
        if st.is_some_and(|s| concurrently(&s.text)) {
            continue;
        }
        let span = input.blocking_spans().find(|s| {
            s.table_oid == idx.table && st.map_or(true, |st| st.index == s.statement_index)
        });
        if st.is_none() && span.is_none() {
            continue;
        }
        let transaction = st.map_or(0, |s| s.transaction);
        built
            .entry((idx.table, transaction))
            .or_default()
            .push((rel.display(), st.map(|s| s.index)));
    }
    let mut out = Vec::new();
    for ((table, _), mut indexes) in built {
        indexes.sort_by_key(|(_, at)| *at);
        let (first, at) = &indexes[0];
        let mut f = finding(RuleId::I01, first, at.and_then(|i| input.statement(i)));
        for (name, _) in &indexes[1..] {
            f = f.also(name);
        }
        // The longest write-blocking hold on the table in that transaction.
        let span = input
            .blocking_spans()
            .filter(|s| s.table_oid == table)
            .filter(|s| {
                at.map_or(true, |i| {
                    input
                        .statement(i)
                        .is_some_and(|st| st.transaction == s.transaction)
                })
            })
            .max_by(|a, b| a.held_ms.total_cmp(&b.held_ms));
        if let Some(s) = span {
            f = f.held(s, None);
        }
        let bytes = before.relations.get(&table).map_or(0, |t| t.bytes);
        out.push(by_size(f, bytes));
    }
    out
}
