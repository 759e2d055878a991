//! Rewrites of relations that existed before, one cause per rewriting statement and
//! table: PF-T01 (a column's type changed), PF-T02 (a column added with a volatile
//! default), PF-T03 (a serial, identity or stored generated column), PF-I05 (`REINDEX`,
//! `VACUUM FULL`, `CLUSTER`) and PF-R01 for any other rewrite. One detector for all
//! five, because a rewrite has one cause and the id says which: a type change is not
//! also a bare rewrite, and the indexes a table's rewrite rebuilt are folded into it.
//!
//! The statement is the one after which the relation's file node was new (the trace
//! reads it with every lock); when the trace did not see the relation (a `VACUUM FULL`
//! commits on its own), the maintenance statement that names it, else the statement
//! that took its strongest lock.

use super::super::{finding, Evidence, Finding, Input, LockEvidence};
use super::{by_size, statement_naming};
use crate::model::RuleId;
use crate::pg::catalog::{Column, Relation};
use crate::trace::timeline::TracedStatement;
use std::collections::BTreeMap;

const MAINTENANCE: &[&str] = &["VACUUM", "CLUSTER", "REINDEX"];

fn is_serial_like(c: &Column) -> bool {
    c.generated == "s"
        || !c.identity.is_empty()
        || c.default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("))
}

/// The first statement after which `oid` had a file node other than `old`.
fn rewriting_statement<'a>(input: &Input<'a>, oid: i64, old: i64) -> Option<&'a TracedStatement> {
    input.trace.statements.iter().find(|s| {
        s.locks
            .iter()
            .any(|l| l.oid == oid && l.relfilenode.is_some_and(|f| f != old))
    })
}

/// The relation's table (itself, for a table).
fn table_of(r: &Relation, oid: i64) -> i64 {
    r.table.unwrap_or(oid)
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    // (statement, table) -> the relations it rewrote.
    let mut causes: BTreeMap<(Option<usize>, i64), Vec<i64>> = BTreeMap::new();
    for (oid, old) in &before.relations {
        let Some(new) = after.relations.get(oid) else {
            continue;
        };
        if new.filenode == old.filenode || !(old.is_table() || old.kind == "m" || old.is_index()) {
            continue;
        }
        let table = table_of(old, *oid);
        let table_name = before.relations.get(&table).map_or("", |t| t.name.as_str());
        let st = rewriting_statement(input, *oid, old.filenode)
            .or_else(|| statement_naming(input, MAINTENANCE, &old.name))
            .or_else(|| statement_naming(input, MAINTENANCE, table_name))
            .or_else(|| {
                input
                    .strongest_on(table)
                    .and_then(|s| input.statement(s.statement_index))
            });
        causes
            .entry((st.map(|s| s.index), table))
            .or_default()
            .push(*oid);
    }
    let mut out = Vec::new();
    for ((index, table), mut rewritten) in causes {
        rewritten.sort_by_key(|oid| (*oid != table, before.name(*oid)));
        out.extend(cause(
            input,
            index.and_then(|i| input.statement(i)),
            table,
            &rewritten,
        ));
    }
    out
}

/// The findings of one statement's rewrites on one table (the table first in
/// `rewritten` when it was rewritten itself).
fn cause(
    input: &Input<'_>,
    st: Option<&TracedStatement>,
    table: i64,
    rewritten: &[i64],
) -> Vec<Finding> {
    let before = input.before;
    let table_bytes = before.relations.get(&table).map_or(0, |t| t.bytes);
    let bytes: i64 = rewritten
        .iter()
        .filter_map(|o| before.relations.get(o))
        .map(|r| r.bytes.max(0))
        .sum();
    let maintenance = st.filter(|s| MAINTENANCE.contains(&s.kind.as_str()));
    if maintenance.is_some_and(|s| super::super::sql::concurrently(&s.text)) {
        return Vec::new();
    }
    let evidence = |f: Finding| {
        let mut f = f.with(Evidence::new("rewritten", bytes as f64, "bytes"));
        for oid in rewritten {
            f = f.also(before.name(*oid));
        }
        let f = match input.strongest_on(table) {
            Some(s) => f.held(s, None),
            None => f,
        };
        by_size(f, table_bytes)
    };
    if maintenance.is_some() {
        return vec![evidence(finding(RuleId::I05, before.name(table), st))];
    }
    // Why the table itself was rewritten, column by column.
    let mut explained: BTreeMap<RuleId, Vec<String>> = BTreeMap::new();
    if rewritten.first() == Some(&table) {
        for ((rel, num), col) in &input.after.columns {
            if *rel != table {
                continue;
            }
            let id = match before.columns.get(&(*rel, *num)) {
                Some(was) if was.type_name != col.type_name => RuleId::T01,
                Some(_) => continue,
                None if is_serial_like(col) => RuleId::T03,
                None if col.default.is_some() => RuleId::T02,
                None => continue,
            };
            let object = format!("{}.{}", before.name(table), col.name);
            explained.entry(id).or_default().push(object);
        }
    }
    if explained.is_empty() {
        let object = before.name(*rewritten.first().unwrap_or(&table));
        return vec![evidence(finding(RuleId::R01, object, st))];
    }
    explained
        .into_iter()
        .map(|(id, mut columns)| {
            columns.sort();
            let mut f = finding(id, &columns[0], st);
            for c in &columns[1..] {
                f = f.also(c);
            }
            evidence(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::model::RuleId;
    use crate::pg::lock_mode::LockMode::*;
    use crate::trace::timeline::TracedLock;

    #[test]
    fn the_rewrite_is_the_statement_that_changed_the_file_node_and_indexes_fold_into_it() {
        // One transaction: an ALTER TABLE locks comment first, a REINDEX TABLE rewrites
        // its two indexes later.
        let mut r = Recorded::new()
            .table(1, "comment", 1 << 20)
            .relation(2, "comment_pkey", "i", Some(1), 8192)
            .relation(3, "comment_post_idx", "i", Some(1), 8192)
            .statement("ALTER TABLE comment ADD COLUMN x int", 1, 0.0, 1.0)
            .statement("REINDEX TABLE comment", 1, 1.0, 45_000.0)
            .lock(1, AccessExclusive, 1, 0.0, 98_000.0);
        for (index, fnode) in [(1, None), (2, Some(1))] {
            let st = &mut r.trace.statements[index - 1];
            st.locks = [2, 3]
                .map(|oid| TracedLock {
                    relation: String::new(),
                    oid,
                    mode: AccessExclusive,
                    relfilenode: fnode.map(|_| oid + 100).or(Some(oid)),
                })
                .to_vec();
        }
        for oid in [2, 3] {
            r.after.relations.get_mut(&oid).unwrap().filenode = oid + 100;
        }
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, RuleId::I05);
        assert_eq!(f[0].object, "comment");
        assert_eq!(f[0].also, ["comment_pkey", "comment_post_idx"]);
        assert_eq!(f[0].statement.as_ref().unwrap().number, Some(2));
    }
}
