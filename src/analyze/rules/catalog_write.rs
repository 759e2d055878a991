//! PF-K01: a data statement that writes a system catalog directly (`UPDATE pg_index
//! SET indisready = false`): it bypasses the locking and checks of the SQL commands
//! that make the same change, and can corrupt what the catalog describes.

use super::super::sql::written_table;
use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    input
        .trace
        .statements
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE"))
        // A catalog's name starts with `pg_`: only such statements are parsed.
        .filter(|s| s.text.to_ascii_lowercase().contains("pg_"))
        .filter_map(|s| {
            let (schema, table) = written_table(&s.text)?;
            let user_table = input.before.relations.values().any(|r| r.name == table);
            let catalog = schema == "pg_catalog"
                || (schema.is_empty() && table.starts_with("pg_") && !user_table);
            let rows = s.rows.unwrap_or(0) as f64;
            catalog.then(|| {
                finding(RuleId::K01, table, Some(s)).with(Evidence::new(
                    "catalog rows written",
                    rows,
                    "rows",
                ))
            })
        })
        .collect()
}
