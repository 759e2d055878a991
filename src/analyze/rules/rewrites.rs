//! Rewrites of relations that existed before: PF-T01 (type change), PF-T02 (added
//! column with a volatile default), PF-T03 (serial, identity or stored generated column),
//! PF-I05 (REINDEX, VACUUM FULL, CLUSTER) and PF-R01 for any other rewrite. The evidence
//! is the relation's new file node; the statement is the one that locked it.

use super::super::{Evidence, Finding, Input};
use super::statement_naming;
use crate::observe::catalog::{Column, Relation};
use crate::trace::timeline::TracedStatement;

const MAINTENANCE: &[&str] = &["VACUUM", "CLUSTER", "REINDEX"];

fn is_serial_like(c: &Column) -> bool {
    c.generated == "s"
        || !c.identity.is_empty()
        || c.default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("))
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (oid, old) in &input.before.relations {
        let Some(new) = input.after.relations.get(oid) else {
            continue;
        };
        if new.filenode == old.filenode || !(old.is_table() || old.kind == "m" || old.is_index()) {
            continue;
        }
        if old.is_index() {
            // Rebuilt with its table: the table's finding says it.
            let table_rewritten = old.table.is_some_and(|t| {
                let (a, b) = (
                    input.before.relations.get(&t),
                    input.after.relations.get(&t),
                );
                matches!((a, b), (Some(a), Some(b)) if a.filenode != b.filenode)
            });
            if !table_rewritten {
                out.extend(rewritten(input, *oid, old, &[]));
            }
            continue;
        }
        let mut explained = Vec::new();
        for ((rel, num), col) in &input.after.columns {
            if rel != oid {
                continue;
            }
            let object = format!("{}.{}", old.display(), col.name);
            match input.before.columns.get(&(*rel, *num)) {
                Some(was) if was.type_name != col.type_name => explained.push(("PF-T01", object)),
                Some(_) => {}
                None if is_serial_like(col) => explained.push(("PF-T03", object)),
                None if col.default.is_some() => explained.push(("PF-T02", object)),
                None => {}
            }
        }
        out.extend(rewritten(input, *oid, old, &explained));
    }
    out
}

/// The findings for one rewritten relation: the explaining ones, else I05 or R01.
fn rewritten(
    input: &Input<'_>,
    oid: i64,
    old: &Relation,
    explained: &[(&'static str, String)],
) -> Vec<Finding> {
    let table = old.table.unwrap_or(oid);
    let span = input.strongest_on(table);
    let maintenance = statement_naming(input, MAINTENANCE, &old.name);
    let statement: Option<&TracedStatement> =
        maintenance.or_else(|| span.and_then(|s| input.statement(s.statement_index)));
    let evidence = |f: Finding| {
        let f = f.with(Evidence::new("rewritten", old.bytes.max(0) as f64, "bytes"));
        match span {
            Some(s) => f.held(s, None),
            None => f,
        }
    };
    if !explained.is_empty() {
        return explained
            .iter()
            .map(|(id, object)| evidence(Finding::new(id, object, statement)))
            .collect();
    }
    let id = match maintenance {
        Some(s) if !super::super::sql::concurrently(&s.text) => "PF-I05",
        Some(_) => return Vec::new(),
        None => "PF-R01",
    };
    vec![evidence(Finding::new(id, old.display(), statement))]
}
