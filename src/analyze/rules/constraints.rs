//! Constraints added to tables that existed: PF-C01 (CHECK or FOREIGN KEY added valid),
//! PF-C02 (SET NOT NULL without a valid IS NOT NULL check), PF-C03 (UNIQUE or PRIMARY
//! KEY building its index inside ALTER TABLE), PF-C04 (a foreign key with no index on
//! its columns), PF-C05 (exclusion constraint). How the constraint was asked for (NOT
//! VALID, USING INDEX) comes from the statement; what happened from the catalog.

use super::super::sql::{added_constraints, AddedConstraint};
use super::super::{Finding, Input};
use super::statement_naming;
use crate::observe::catalog::{Catalog, Constraint};
use crate::trace::timeline::TracedStatement;

/// The ALTER TABLE statement that added `c` (by name, else by table and kind).
fn asked_for<'a>(
    input: &Input<'a>,
    c: &Constraint,
    table: &str,
) -> Option<(&'a TracedStatement, AddedConstraint)> {
    let kind = c.kind.chars().next()?;
    let mut unnamed = None;
    for st in input
        .trace
        .statements
        .iter()
        .filter(|s| s.kind == "ALTER TABLE")
    {
        for a in added_constraints(&st.text) {
            match &a.name {
                Some(n) if n.eq_ignore_ascii_case(&c.name) => return Some((st, a)),
                None if a.kind == kind && a.table.eq_ignore_ascii_case(table) => {
                    unnamed.get_or_insert((st, a));
                }
                _ => {}
            }
        }
    }
    unnamed
}

/// A valid index whose leading columns are the foreign key's columns.
fn fk_indexed(cat: &Catalog, c: &Constraint) -> bool {
    let mut want = c.columns.clone();
    want.sort();
    cat.indexes.values().any(|i| {
        if i.table != c.table || !i.valid || i.columns.len() < want.len() {
            return false;
        }
        let mut lead = i.columns[..want.len()].to_vec();
        lead.sort();
        lead == want
    })
}

/// A validated `CHECK (col IS NOT NULL)` on the table in `cat`.
fn has_not_null_check(cat: &Catalog, table: i64, column: &str) -> bool {
    cat.constraints.values().any(|k| {
        k.table == table
            && k.kind == "c"
            && k.validated
            && k.definition.contains("IS NOT NULL")
            && super::names(&k.definition, column)
    })
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (before, after) = (input.before, input.after);
    for (oid, c) in &after.constraints {
        if before.constraints.contains_key(oid) || !input.preexisting(c.table) {
            continue;
        }
        let table = before.name(c.table);
        let object = format!("{table}.{}", c.name);
        let asked = asked_for(input, c, &before.relations[&c.table].name);
        let st = asked.as_ref().map(|(s, _)| *s);
        let finding = |id| {
            let f = Finding::new(id, &object, st);
            match input.strongest_on(c.table) {
                Some(s) => f.held(s, None),
                None => f,
            }
        };
        match c.kind.as_str() {
            "c" | "f" if c.validated && !asked.as_ref().is_some_and(|(_, a)| a.not_valid) => {
                out.push(finding("PF-C01"))
            }
            "u" | "p"
                if !before.indexes.contains_key(&c.index)
                    && !asked.as_ref().is_some_and(|(_, a)| a.using_index) =>
            {
                out.push(finding("PF-C03"))
            }
            "x" => out.push(finding("PF-C05")),
            _ => {}
        }
        if c.kind == "f" && !fk_indexed(after, c) {
            out.push(Finding::new("PF-C04", &object, st));
        }
    }
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
                .is_some_and(|s| super::names(&s.text, &before.relations[rel].name));
        if by_new_key || checked {
            continue;
        }
        let table = before.relations[rel].name.clone();
        let st = input.trace.statements.iter().find(|s| {
            s.kind == "ALTER TABLE"
                && super::names(&s.text, &table)
                && s.text.to_uppercase().contains("SET NOT NULL")
        });
        let f = Finding::new("PF-C02", format!("{}.{}", before.name(*rel), col.name), st);
        out.push(match input.strongest_on(*rel) {
            Some(s) => f.held(s, None),
            None => f,
        });
    }
    out
}
