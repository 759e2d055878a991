//! PF-C02: `SET NOT NULL` on a column of a table that existed before, with no valid
//! `CHECK (col IS NOT NULL)` to prove it: the table is scanned under ACCESS EXCLUSIVE.
//! A column that a new primary key makes NOT NULL is PF-C03's.

use super::super::{finding, Finding, Input, LockEvidence};
use super::{by_size, names, statement_naming};
use crate::model::RuleId;
use crate::pg::catalog::Catalog;

/// A validated `CHECK (col IS NOT NULL)` on the table in `cat`.
fn has_not_null_check(cat: &Catalog, table: i64, column: &str) -> bool {
    cat.constraints.values().any(|k| {
        k.table == table
            && k.kind == "c"
            && k.validated
            && k.definition.contains("IS NOT NULL")
            && names(&k.definition, column)
    })
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    let mut out = Vec::new();
    for ((rel, num), col) in &after.columns {
        let Some(was) = before.columns.get(&(*rel, *num)) else {
            continue;
        };
        if was.not_null || !col.not_null {
            continue;
        }
        let by_new_key = after
            .constraints
            .iter()
            .any(|(k, c)| !before.constraints.contains_key(k) && c.table == *rel && c.kind == "p");
        let checked = has_not_null_check(before, *rel, &col.name)
            || has_not_null_check(after, *rel, &col.name)
            || statement_naming(input, &["ALTER TABLE"], "VALIDATE")
                .is_some_and(|s| names(&s.text, &before.relations[rel].name));
        if by_new_key || checked {
            continue;
        }
        let table = before.relations[rel].name.clone();
        let st = input.trace.statements.iter().find(|s| {
            s.kind == "ALTER TABLE"
                && names(&s.text, &table)
                && names(&s.text, &col.name)
                && s.text.to_uppercase().contains("SET NOT NULL")
        });
        let f = finding(
            RuleId::C02,
            format!("{}.{}", before.name(*rel), col.name),
            st,
        );
        let f = match input.strongest_on(*rel) {
            Some(s) => f.held(s, None),
            None => f,
        };
        out.push(by_size(f, before.relations[rel].bytes));
    }
    out
}
