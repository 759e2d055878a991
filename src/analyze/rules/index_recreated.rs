//! PF-I06: an index of a table that existed before was dropped and built again under
//! the same name without `CONCURRENTLY`: between the two, queries have no index, and the
//! build blocks writes. (A `REINDEX CONCURRENTLY` also leaves a new index of the same
//! name: it is neither.) The drop is part of this cause, not a PF-I02 of its own.

use super::super::sql::concurrently;
use super::super::{finding, Finding, Input, LockEvidence};
use super::{by_size, statement_naming};
use crate::model::RuleId;
use crate::trace::timeline::TracedStatement;

/// The index of `before`'s `oid` dropped and built again under its name: the new index
/// and the `CREATE INDEX` that built it.
pub(super) fn recreated<'a>(input: &Input<'a>, oid: i64) -> Option<(i64, &'a TracedStatement)> {
    let (before, after) = (input.before, input.after);
    let idx = before.indexes.get(&oid)?;
    let name = &before.relations.get(&oid)?.name;
    if after.indexes.contains_key(&oid) {
        return None;
    }
    let new = after.indexes.iter().find_map(|(o, i)| {
        (i.table == idx.table && after.relations.get(o).is_some_and(|r| &r.name == name))
            .then_some(*o)
    })?;
    let create = statement_naming(input, &["CREATE INDEX"], name)?;
    Some((new, create))
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (oid, idx) in &input.before.indexes {
        let Some((_, create)) = recreated(input, *oid) else {
            continue;
        };
        if concurrently(&create.text) {
            continue;
        }
        let name = input.before.name(*oid);
        let drop = statement_naming(input, &["DROP"], &name);
        let f = finding(RuleId::I06, name, drop.or(Some(create)));
        let f = match input.strongest_on(idx.table) {
            Some(s) => f.held(s, None),
            None => f,
        };
        let bytes = input
            .before
            .relations
            .get(&idx.table)
            .map_or(0, |t| t.bytes);
        out.push(by_size(f, bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::model::RuleId;
    use crate::pg::catalog::Index;

    fn index(table: i64) -> Index {
        Index {
            table,
            valid: true,
            unique: false,
            columns: vec![1],
            partial_or_expression: false,
        }
    }

    #[test]
    fn a_same_name_rebuild_without_concurrently_is_one_cause_at_the_drop() {
        let mut r = Recorded::new()
            .table(1, "post", 1 << 20)
            .relation(2, "idx_post_published", "i", Some(1), 8192)
            .statement("DROP INDEX idx_post_published", 1, 0.0, 1.0)
            .statement(
                "CREATE INDEX idx_post_published ON post (published_at)",
                1,
                1.0,
                9.0,
            );
        r.before.indexes.insert(2, index(1));
        let moved = r.after.relations.remove(&2).unwrap();
        r.after.relations.insert(9, moved);
        r.after.indexes.insert(9, index(1));
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, RuleId::I06);
        assert_eq!(f[0].statement.as_ref().unwrap().number, Some(1));
        r.trace.statements[1].text =
            "CREATE INDEX CONCURRENTLY idx_post_published ON post (published_at)".into();
        assert!(r.judge(super::check).is_empty());
    }
}
