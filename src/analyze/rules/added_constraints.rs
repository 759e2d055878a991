//! Not a rule: the constraints a migration added to tables that existed before, each
//! with the `ALTER TABLE` that asked for it and how (NOT VALID, USING INDEX), which the
//! constraint rules (PF-C01, C03, C04, C05) judge.

use super::super::sql::{added_constraints, AddedConstraint};
use super::super::{Finding, Input, LockEvidence};
use crate::pg::catalog::Constraint;
use crate::trace::timeline::TracedStatement;

pub(super) struct Added<'a> {
    pub constraint: &'a Constraint,
    /// `table.constraint`.
    pub object: String,
    pub statement: Option<&'a TracedStatement>,
    pub asked: Option<AddedConstraint>,
    /// The table's size before.
    pub table_bytes: i64,
}

impl Added<'_> {
    /// A finding of `id` on it, with its table's strongest lock.
    pub fn finding(&self, input: &Input<'_>, id: crate::model::RuleId) -> Finding {
        let f = super::super::finding(id, &self.object, self.statement);
        let f = match input.strongest_on(self.constraint.table) {
            Some(s) => f.held(s, None),
            None => f,
        };
        super::by_size(f, self.table_bytes)
    }
}

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

/// The `CREATE TABLE` that made `table` (a constraint declared with the table).
fn created_with<'a>(input: &Input<'a>, table: &str) -> Option<&'a TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .find(|s| s.kind == "CREATE TABLE" && s.objects.first().is_some_and(|o| o == table))
}

/// Constraints that are new after the migration; `on_old_tables` keeps those on tables
/// that existed before it.
pub(super) fn added<'a>(input: &Input<'a>, on_old_tables: bool) -> Vec<Added<'a>> {
    let (before, after) = (input.before, input.after);
    let mut out = Vec::new();
    for (oid, c) in &after.constraints {
        if before.constraints.contains_key(oid) || (on_old_tables && !input.preexisting(c.table)) {
            continue;
        }
        let table = after.relations.get(&c.table);
        let name = table.map_or(String::new(), |t| t.name.clone());
        let asked = asked_for(input, c, &name);
        out.push(Added {
            constraint: c,
            object: format!("{}.{}", after.name(c.table), c.name),
            statement: asked
                .as_ref()
                .map(|(s, _)| *s)
                .or_else(|| created_with(input, &name)),
            asked: asked.map(|(_, a)| a),
            table_bytes: before.relations.get(&c.table).map_or(0, |t| t.bytes),
        });
    }
    out.sort_by(|a, b| a.object.cmp(&b.object));
    out
}
