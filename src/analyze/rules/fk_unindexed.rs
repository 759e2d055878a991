//! PF-C04: a foreign key whose referencing columns no valid index leads with, so every
//! delete or key update on the referenced table scans the referencing one. Raised for
//! a key added to a table that existed before, and for a new table's key to a table
//! that existed before (the evidence is then the referenced table's size: what will
//! be deleted from while the new table grows).

use super::super::{Evidence, Finding, Input};
use crate::model::RuleId;
use crate::pg::catalog::{Catalog, Constraint};

/// A valid index whose leading columns are the foreign key's columns.
fn indexed(cat: &Catalog, c: &Constraint) -> bool {
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

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in super::added_constraints::added(input, false) {
        let c = a.constraint;
        if c.kind != "f" || indexed(input.after, c) {
            continue;
        }
        // The columns to index, as the MR spells them (`comment_like.comment_id`).
        let columns: Vec<String> = c
            .columns
            .iter()
            .filter_map(|n| input.after.columns.get(&(c.table, *n)))
            .map(|col| col.name.clone())
            .collect();
        let object = match columns.as_slice() {
            [] => a.object.clone(),
            cols => format!("{}.{}", input.after.name(c.table), cols.join(",")),
        };
        let f = super::super::finding(RuleId::C04, object, a.statement);
        if input.preexisting(c.table) {
            out.push(f);
        } else if let Some(referenced) = input.before.relations.get(&c.references) {
            out.push(
                f.with(
                    Evidence::new("referenced table size", referenced.bytes as f64, "bytes")
                        .on(referenced.display()),
                ),
            );
        }
    }
    out
}
