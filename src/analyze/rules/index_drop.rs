//! PF-I02: an index of a table that existed before dropped without `CONCURRENTLY`
//! (ACCESS EXCLUSIVE on its table). One cause per `DROP` statement, listing what it
//! dropped; a drop followed by a build under the same name is PF-I06's.

use super::super::sql::concurrently;
use super::super::{finding, Finding, Input, LockEvidence};
use super::statement_naming;
use crate::model::RuleId;
use std::collections::BTreeMap;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let (before, after) = (input.before, input.after);
    // statement -> (table, indexes it dropped)
    let mut drops: BTreeMap<usize, (i64, Vec<String>)> = BTreeMap::new();
    for (oid, idx) in &before.indexes {
        let Some(rel) = before.relations.get(oid) else {
            continue;
        };
        let gone = !after.indexes.contains_key(oid) && after.relations.contains_key(&idx.table);
        if !gone {
            continue;
        }
        if let Some((_, create)) = super::index_recreated::recreated(input, *oid) {
            if !concurrently(&create.text) {
                continue;
            }
        } else if super::index_blocking::has_index_named(after, idx.table, &rel.name) {
            // A REINDEX CONCURRENTLY's swap.
            continue;
        }
        let Some(st) = statement_naming(input, &["DROP"], &rel.name) else {
            continue;
        };
        if concurrently(&st.text) {
            continue;
        }
        drops
            .entry(st.index)
            .or_insert((idx.table, Vec::new()))
            .1
            .push(rel.display());
    }
    drops
        .into_iter()
        .map(|(index, (table, mut names))| {
            names.sort();
            let mut f = finding(RuleId::I02, &names[0], input.statement(index));
            for n in &names[1..] {
                f = f.also(n);
            }
            match input.strongest_on(table) {
                Some(s) => f.held(s, None),
                None => f,
            }
        })
        .collect()
}
