//! What the running application notices: PF-S01 (renamed), PF-S02 (dropped), both
//! static (the catalog diff and the statement, no measurement); PF-S03 (NOT NULL column
//! without a default on an existing table, whether it failed on existing rows or broke
//! old writers); PF-T04 (a json column).

use super::super::{Evidence, Finding, Input};
use super::{failed_statement, statement_naming};

/// Relation kinds the application reads by name: tables, views, materialized views.
fn read_by_name(kind: &str) -> bool {
    matches!(kind, "r" | "p" | "v" | "m" | "f")
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (before, after) = (input.before, input.after);
    for (oid, old) in before
        .relations
        .iter()
        .filter(|(_, r)| read_by_name(&r.kind))
    {
        match after.relations.get(oid) {
            Some(new) if new.name != old.name || new.schema != old.schema => {
                let st = statement_naming(
                    input,
                    &["RENAME", "ALTER TABLE", "ALTER SET SCHEMA"],
                    &old.name,
                );
                out.push(Finding::new("PF-S01", old.display(), st));
            }
            Some(_) => {}
            None => {
                let st = statement_naming(input, &["DROP"], &old.name);
                out.push(Finding::new("PF-S02", old.display(), st));
            }
        }
    }
    for ((rel, num), col) in &before.columns {
        let Some(table) = after.relations.get(rel) else {
            continue;
        };
        let object = format!("{}.{}", before.name(*rel), col.name);
        match after.columns.get(&(*rel, *num)) {
            Some(now) if now.name != col.name => {
                let st = statement_naming(input, &["RENAME", "ALTER TABLE"], &col.name);
                out.push(Finding::new("PF-S01", object, st));
            }
            Some(_) => {}
            None if read_by_name(&table.kind) => {
                let st = statement_naming(input, &["ALTER TABLE", "DROP"], &col.name);
                out.push(Finding::new("PF-S02", object, st));
            }
            None => {}
        }
    }
    for ((rel, num), col) in &after.columns {
        if before.columns.contains_key(&(*rel, *num)) {
            continue;
        }
        let object = format!("{}.{}", after.name(*rel), col.name);
        if col.type_name == "json" {
            let st = statement_naming(input, &["ALTER TABLE", "CREATE TABLE"], &col.name);
            out.push(Finding::new("PF-T04", &object, st));
        }
        let bare_not_null = col.not_null
            && col.default.is_none()
            && col.identity.is_empty()
            && col.generated.is_empty();
        if bare_not_null && input.preexisting(*rel) {
            let st = statement_naming(input, &["ALTER TABLE"], &col.name);
            let bytes = before.relations[rel].bytes;
            out.push(Finding::new("PF-S03", object, st).with(Evidence::new(
                "table size",
                bytes as f64,
                "bytes",
            )));
        }
    }
    // Failed on existing rows: the NOT NULL column never made it into the catalog.
    if let Some(st) = failed_statement(input) {
        let upper = st.text.to_uppercase();
        if st.sqlstate.as_deref() == Some("23502")
            && st.kind == "ALTER TABLE"
            && upper.contains("ADD")
            && upper.contains("NOT NULL")
            && !upper.contains("DEFAULT")
        {
            let object = st.objects.first().cloned().unwrap_or_default();
            out.push(Finding::new("PF-S03", object, Some(st)));
        }
    }
    out
}
