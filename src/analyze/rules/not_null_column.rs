//! PF-S03: a column added `NOT NULL` with no default (nor identity or generation) to a
//! table that existed before. On a populated table it fails (23502): an error. On an
//! empty one it succeeds but breaks the running application's inserts, which do not
//! know the column: a warning. The safe pattern (add it nullable, backfill, then
//! `SET NOT NULL`) declares no such column and raises nothing here.

use super::super::sql::added_columns;
use super::super::{finding, Evidence, Finding, Input};
use super::failed_statement;
use crate::model::{RuleId, Severity};

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let failed = failed_statement(input).filter(|s| s.sqlstate.as_deref() == Some("23502"));
    for st in input
        .trace
        .statements
        .iter()
        .filter(|s| s.kind == "ALTER TABLE")
    {
        for added in added_columns(&st.text)
            .into_iter()
            .filter(|a| a.bare_not_null)
        {
            let Some((oid, rel)) = input
                .before
                .relations
                .iter()
                .find(|(_, r)| r.name == added.table && r.is_table())
            else {
                continue;
            };
            let object = format!("{}.{}", rel.display(), added.column);
            let f = finding(RuleId::S03, object, Some(st)).with(Evidence::new(
                "table size",
                rel.bytes as f64,
                "bytes",
            ));
            let failed_here = failed.is_some_and(|s| s.index == st.index);
            let exists = input
                .after
                .columns
                .iter()
                .any(|((r, _), c)| r == oid && c.name == added.column);
            match (failed_here, exists) {
                (true, _) => out.push(f.severity(Severity::Error)),
                (false, true) => out.push(f.severity(Severity::Warning)),
                (false, false) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::model::Severity;
    use crate::pg::catalog::Column;

    #[test]
    fn the_safe_pattern_raises_nothing_and_an_empty_table_is_a_warning() {
        let col = Column {
            name: "actor".into(),
            type_name: "text".into(),
            not_null: true,
            default: None,
            generated: String::new(),
            identity: String::new(),
        };
        let mut safe = Recorded::new()
            .table(1, "audit", 0)
            .statement("ALTER TABLE audit ADD COLUMN actor text", 1, 0.0, 1.0)
            .statement("UPDATE audit SET actor = 'x'", 2, 1.0, 2.0)
            .statement(
                "ALTER TABLE audit ALTER COLUMN actor SET NOT NULL",
                3,
                2.0,
                3.0,
            );
        safe.after.columns.insert((1, 1), col.clone());
        assert!(safe.judge(super::check).is_empty());
        let mut bare = Recorded::new().table(1, "audit", 0).statement(
            "ALTER TABLE audit ADD COLUMN actor text NOT NULL",
            1,
            0.0,
            1.0,
        );
        bare.after.columns.insert((1, 1), col);
        let f = bare.judge(super::check);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
