//! PF-S02 (static): a table or column the running application may still read was
//! dropped by name. One cause per table, listing its dropped columns, at the statement
//! that drops the first of them. What a `CASCADE` took along is PF-S04's.

use super::super::{Finding, Input};
use super::schema_changes::{changes, per_table, DroppedByName, OnTable};
use crate::model::RuleId;
use std::collections::BTreeMap;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut by_table: BTreeMap<String, OnTable> = BTreeMap::new();
    let named = DroppedByName::read(input);
    let cascade = super::schema_changes::cascading(input).is_some();
    for c in changes(input)
        .into_iter()
        .filter(|c| c.renamed_to.is_none())
    {
        let at = named.statement_of(&c);
        if at.is_none() && cascade {
            continue;
        }
        let object = match &c.column {
            Some(col) => format!("{}.{col}", c.table),
            None => c.table.clone(),
        };
        let e = by_table.entry(c.table.clone()).or_default();
        e.objects.push(object);
        e.statements.extend(at);
    }
    per_table(input, RuleId::S02, by_table, "dropped")
}
