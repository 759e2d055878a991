//! Not a rule: what the migration renamed and dropped, from the catalog comparison,
//! for the rules on what the running application notices (PF-S01, S02, S04).

use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;
use std::collections::BTreeMap;

/// Objects of one table that a migration changed, and the statements that did it.
#[derive(Default)]
pub(super) struct OnTable {
    pub objects: Vec<String>,
    pub statements: Vec<usize>,
}

/// One cause per table (`id`): its first object, the others folded in, at the first
/// statement that changed any of them, counted as `measure`.
pub(super) fn per_table(
    input: &Input<'_>,
    id: RuleId,
    tables: BTreeMap<String, OnTable>,
    measure: &str,
) -> Vec<Finding> {
    tables
        .into_values()
        .map(|t| {
            let at = t.statements.iter().min().and_then(|i| input.statement(*i));
            let mut f = finding(id, &t.objects[0], at);
            for o in &t.objects[1..] {
                f = f.also(o);
            }
            f.with(Evidence::new(measure, t.objects.len() as f64, "objects"))
        })
        .collect()
}

/// Relation kinds the application reads by name: tables, views, materialized views.
pub(super) fn read_by_name(kind: &str) -> bool {
    matches!(kind, "r" | "p" | "v" | "m" | "f")
}

/// A relation (`column` none) or column that is gone or has a new name.
pub(super) struct Change {
    pub table: String,
    pub column: Option<String>,
    /// The new name, when renamed.
    pub renamed_to: Option<String>,
}

/// Every rename and drop of something that existed before, tables first.
pub(super) fn changes(input: &Input<'_>) -> Vec<Change> {
    let (before, after) = (input.before, input.after);
    let mut out = Vec::new();
    for (oid, old) in before
        .relations
        .iter()
        .filter(|(_, r)| read_by_name(&r.kind))
    {
        match after.relations.get(oid) {
            Some(new) if new.name != old.name || new.schema != old.schema => out.push(Change {
                table: old.display(),
                column: None,
                renamed_to: Some(new.display()),
            }),
            Some(_) => {}
            None => out.push(Change {
                table: old.display(),
                column: None,
                renamed_to: None,
            }),
        }
    }
    for ((rel, num), col) in &before.columns {
        let Some(table) = after.relations.get(rel) else {
            continue;
        };
        let renamed_to = match after.columns.get(&(*rel, *num)) {
            Some(now) if now.name != col.name => Some(now.name.clone()),
            Some(_) => continue,
            None if read_by_name(&table.kind) => None,
            None => continue,
        };
        out.push(Change {
            table: before.name(*rel),
            column: Some(col.name.clone()),
            renamed_to,
        });
    }
    out.sort_by(|a, b| {
        (a.column.is_some(), &a.table, &a.column).cmp(&(b.column.is_some(), &b.table, &b.column))
    });
    out
}

/// The first statement that drops with `CASCADE` (only `DROP` and `ALTER TABLE` can, so
/// no other statement is parsed).
pub(super) fn cascading<'a>(
    input: &Input<'a>,
) -> Option<&'a crate::trace::timeline::TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "DROP" | "ALTER TABLE"))
        .find(|s| super::super::sql::cascades(&s.text))
}

/// The bare name of a display name (`s.t` -> `t`).
pub(super) fn bare(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// What the migration's statements drop by name, read once from their parse trees.
pub(super) struct DroppedByName {
    /// (statement, table, column) of each `ALTER TABLE ... DROP COLUMN`.
    columns: Vec<(usize, String, String)>,
    /// (statement, name) of each object a `DROP` names.
    relations: Vec<(usize, String)>,
}

impl DroppedByName {
    pub fn read(input: &Input<'_>) -> DroppedByName {
        let mut out = DroppedByName {
            columns: Vec::new(),
            relations: Vec::new(),
        };
        for s in &input.trace.statements {
            match s.kind.as_str() {
                "ALTER TABLE" => out.columns.extend(
                    super::super::sql::dropped_columns(&s.text)
                        .into_iter()
                        .map(|(t, c)| (s.index, t, c)),
                ),
                "DROP" => out.relations.extend(
                    super::super::sql::dropped(&s.text)
                        .into_iter()
                        .map(|d| (s.index, d)),
                ),
                _ => {}
            }
        }
        out
    }

    /// The first statement that drops `change` by name (not by a cascade).
    pub fn statement_of(&self, change: &Change) -> Option<usize> {
        let table = bare(&change.table);
        match &change.column {
            Some(c) => self
                .columns
                .iter()
                .find(|(_, t, col)| t == table && col == c)
                .map(|(i, _, _)| *i),
            None => self
                .relations
                .iter()
                .find(|(_, d)| d == table)
                .map(|(i, _)| *i),
        }
    }
}
