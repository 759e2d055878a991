//! PF-S01 (static): a table or column the running application uses was renamed. One
//! cause per table, listing its renamed columns, at the first statement whose parse
//! tree renames one of them on that table (not a statement that merely names a column
//! of the same name on another table).

use super::super::sql::renames;
use super::super::{Finding, Input};
use super::schema_changes::{bare, changes, per_table, OnTable};
use crate::model::RuleId;
use std::collections::BTreeMap;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let changes: Vec<_> = changes(input)
        .into_iter()
        .filter(|c| c.renamed_to.is_some())
        .collect();
    if changes.is_empty() {
        return Vec::new();
    }
    // Each statement's renames, read once from its parse tree.
    let renamed: Vec<(usize, Vec<super::super::sql::Renamed>)> = input
        .trace
        .statements
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "RENAME" | "ALTER TABLE"))
        .map(|s| (s.index, renames(&s.text)))
        .collect();
    let mut by_table: BTreeMap<String, OnTable> = BTreeMap::new();
    for c in changes {
        let table = bare(&c.table).to_string();
        let by_parse = renamed
            .iter()
            .find(|(_, r)| r.iter().any(|r| r.table == table && r.column == c.column))
            .and_then(|(i, _)| input.statement(*i));
        let st = by_parse.or_else(|| {
            input.trace.statements.iter().find(|s| {
                c.column.is_none() && s.kind == "ALTER SET SCHEMA" && super::names(&s.text, &table)
            })
        });
        let object = match &c.column {
            Some(col) => format!("{}.{col}", c.table),
            None => c.table.clone(),
        };
        let e = by_table.entry(c.table.clone()).or_default();
        e.objects.push(object);
        e.statements.extend(st.map(|s| s.index));
    }
    per_table(input, RuleId::S01, by_table, "renamed")
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::pg::catalog::Column;

    fn column(name: &str) -> Column {
        Column {
            name: name.into(),
            type_name: "timestamp".into(),
            not_null: false,
            default: None,
            generated: String::new(),
            identity: String::new(),
        }
    }

    #[test]
    fn a_rename_points_at_the_statement_that_renames_it_on_its_own_table() {
        let mut r = Recorded::new()
            .table(1, "post", 8192)
            .table(2, "comment", 8192)
            .statement(
                "ALTER TABLE post RENAME COLUMN published TO published_at",
                1,
                0.0,
                1.0,
            )
            .statement(
                "ALTER TABLE comment RENAME COLUMN published TO published_at",
                1,
                1.0,
                2.0,
            )
            .statement(
                "ALTER TABLE comment RENAME COLUMN updated TO updated_at",
                1,
                2.0,
                3.0,
            );
        for (oid, num, old, new) in [
            (1, 1, "published", "published_at"),
            (2, 1, "published", "published_at"),
            (2, 2, "updated", "updated_at"),
        ] {
            r.before.columns.insert((oid, num), column(old));
            r.after.columns.insert((oid, num), column(new));
        }
        let f = r.judge(super::check);
        assert_eq!(f.len(), 2, "{f:#?}");
        let comment = f.iter().find(|f| f.object.starts_with("comment")).unwrap();
        assert_eq!(comment.object, "comment.published");
        assert_eq!(comment.also, ["comment.updated"]);
        assert_eq!(comment.statement.as_ref().unwrap().number, Some(2));
        let post = f.iter().find(|f| f.object.starts_with("post")).unwrap();
        assert_eq!(post.statement.as_ref().unwrap().number, Some(1));
    }
}
