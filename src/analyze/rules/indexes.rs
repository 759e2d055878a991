//! Indexes: PF-I01 (built on an existing table without CONCURRENTLY), PF-I02 (dropped
//! without CONCURRENTLY), PF-I03 (CONCURRENTLY inside a transaction block), PF-I04 (an
//! invalid index left behind). A REINDEX CONCURRENTLY swaps an index for a new one of
//! the same name: neither a build nor a drop.

use super::super::sql::concurrently;
use super::super::{Evidence, Finding, Input};
use super::{failed_statement, statement_naming};
use crate::observe::catalog::Catalog;
use crate::observe::lock_mode::LockMode;

/// An index of this name on this table in `cat`.
fn has_index_named(cat: &Catalog, table: i64, name: &str) -> bool {
    cat.indexes
        .iter()
        .any(|(oid, i)| i.table == table && cat.relations.get(oid).is_some_and(|r| r.name == name))
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (before, after) = (input.before, input.after);
    let constraint_index = |oid: i64| after.constraints.values().any(|c| c.index == oid);
    for (oid, idx) in &after.indexes {
        let Some(rel) = after.relations.get(oid) else {
            continue;
        };
        if !idx.valid && before.indexes.get(oid).map_or(true, |b| b.valid) {
            let st = statement_naming(input, &["CREATE INDEX", "REINDEX"], &rel.name);
            out.push(
                Finding::new("PF-I04", rel.display(), st).with(Evidence::new(
                    "invalid indexes left",
                    1.0,
                    "indexes",
                )),
            );
        }
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
        let span = input
            .blocking_spans()
            .find(|s| s.table_oid == idx.table && s.mode == LockMode::Share);
        if st.is_none() && span.is_none() {
            continue;
        }
        let f = Finding::new("PF-I01", rel.display(), st);
        out.push(match span {
            Some(s) => f.held(s, None),
            None => f,
        });
    }
    for (oid, idx) in &before.indexes {
        let Some(rel) = before.relations.get(oid) else {
            continue;
        };
        let dropped = !after.indexes.contains_key(oid)
            && after.relations.contains_key(&idx.table)
            && !has_index_named(after, idx.table, &rel.name);
        if !dropped {
            continue;
        }
        let Some(st) = statement_naming(input, &["DROP"], &rel.name) else {
            continue;
        };
        if concurrently(&st.text) {
            continue;
        }
        let f = Finding::new("PF-I02", rel.display(), Some(st));
        out.push(match input.strongest_on(idx.table) {
            Some(s) => f.held(s, None),
            None => f,
        });
    }
    if let Some(st) = failed_statement(input) {
        if st.sqlstate.as_deref() == Some("25001") && concurrently(&st.text) {
            let object = st.objects.first().cloned().unwrap_or_default();
            out.push(Finding::new("PF-I03", object, Some(st)));
        }
    }
    out
}
