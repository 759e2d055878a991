//! PF-S04 (static): a `DROP ... CASCADE` took along objects the migration does not name:
//! tables and views that depended on it, and columns of a dropped type. They are named
//! from the catalog comparison (what is gone that no statement dropped by name).

use super::super::{finding, Evidence, Finding, Input};
use super::schema_changes::{cascading, changes, DroppedByName};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let Some(st) = cascading(input) else {
        return Vec::new();
    };
    let named = DroppedByName::read(input);
    let victims: Vec<String> = changes(input)
        .into_iter()
        .filter(|c| c.renamed_to.is_none() && named.statement_of(c).is_none())
        .map(|c| match c.column {
            Some(col) => format!("{}.{col}", c.table),
            None => c.table,
        })
        .collect();
    let Some(first) = victims.first() else {
        return Vec::new();
    };
    let mut f = finding(RuleId::S04, first, Some(st));
    for v in &victims[1..] {
        f = f.also(v);
    }
    vec![f.with(Evidence::new(
        "dropped by the cascade",
        victims.len() as f64,
        "objects",
    ))]
}
