//! The application's schema by name, for the way back: a migration's down must leave
//! the schema as it was before its up. Objects are keyed by kind and qualified name (an
//! object made again has a new oid, so oids cannot be compared), each with a definition
//! string in PostgreSQL's own words (`pg_get_indexdef`, `pg_get_constraintdef`, ...):
//! schemas, tables, views, sequences and other relations, columns, constraints, indexes,
//! functions and procedures, triggers, enum types with their labels, grants on
//! relations, and extensions.

use std::collections::BTreeMap;

pub use crate::model::observed::{Change, Difference};
use crate::pg::catalog::USER_SCHEMAS;

fn query() -> String {
    format!(
        "SELECT 'schema', n.nspname::text, pg_get_userbyid(n.nspowner)::text \
           FROM pg_namespace n WHERE {USER_SCHEMAS} \
         UNION ALL \
         SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' \
                  WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' \
                  WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'type' ELSE 'relation' END, \
                format('%I.%I', n.nspname, c.relname), \
                concat_ws(' ', c.relkind, c.relpersistence, \
                          CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END) \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname), \
                concat_ws(' ', format_type(a.atttypid, a.atttypmod), \
                          CASE WHEN a.attnotnull THEN 'NOT NULL' END, \
                          pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity) \
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
          WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
            AND {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'constraint', format('%I.%I.%I', n.nspname, c.relname, k.conname), \
                pg_get_constraintdef(k.oid) \
           FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'index', format('%I.%I', n.nspname, c.relname), pg_get_indexdef(c.oid) \
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} \
         UNION ALL \
         SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, \
                format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), \
                md5(pg_get_functiondef(p.oid)) \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
          WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMAS} \
            AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = p.oid AND e.deptype = 'e') \
         UNION ALL \
         SELECT 'trigger', format('%I.%I.%I', n.nspname, c.relname, t.tgname), pg_get_triggerdef(t.oid) \
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE NOT t.tgisinternal AND {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'enum', format('%I.%I', n.nspname, t.typname), \
                (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) \
                   FROM pg_enum e WHERE e.enumtypid = t.oid) \
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
          WHERE t.typtype = 'e' AND {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'grant', format('%I.%I', n.nspname, c.relname), c.relacl::text \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relacl IS NOT NULL AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
            AND {USER_SCHEMAS} \
         UNION ALL \
         SELECT 'extension', x.extname::text, x.extversion FROM pg_extension x"
    )
}

/// Every object of the application's schema: (kind, name) to its definition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema(BTreeMap<(String, String), String>);

impl Difference {
    /// The object's own name: the last part of its qualified name.
    pub fn object(&self) -> &str {
        let name = self.name.split('(').next().unwrap_or(&self.name);
        name.rsplit('.').next().unwrap_or(name).trim_matches('"')
    }
}

impl Schema {
    pub async fn read(client: &tokio_postgres::Client) -> Result<Schema, tokio_postgres::Error> {
        let rows = client.query(&query(), &[]).await?;
        Ok(Schema(
            rows.iter()
                .map(|r| {
                    let definition: Option<String> = r.get(2);
                    ((r.get(0), r.get(1)), definition.unwrap_or_default())
                })
                .collect(),
        ))
    }

    /// What `after` lacks, adds or defines otherwise, compared with `self`.
    pub fn differences(&self, after: &Schema) -> Vec<Difference> {
        let mut out = Vec::new();
        for ((kind, name), before) in &self.0 {
            let change = match after.0.get(&(kind.clone(), name.clone())) {
                None => Change::Missing,
                Some(now) if now != before => Change::Changed,
                Some(_) => continue,
            };
            out.push(Difference {
                change,
                kind: kind.clone(),
                name: name.clone(),
                before: Some(before.clone()),
                after: after.0.get(&(kind.clone(), name.clone())).cloned(),
            });
        }
        for ((kind, name), now) in &after.0 {
            if !self.0.contains_key(&(kind.clone(), name.clone())) {
                out.push(Difference {
                    change: Change::Left,
                    kind: kind.clone(),
                    name: name.clone(),
                    before: None,
                    after: Some(now.clone()),
                });
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(items: &[(&str, &str, &str)]) -> Schema {
        Schema(
            items
                .iter()
                .map(|(k, n, d)| ((k.to_string(), n.to_string()), d.to_string()))
                .collect(),
        )
    }

    #[test]
    fn left_missing_and_changed_objects_are_told_apart() {
        let before = schema(&[
            ("table", "public.orders", "r p"),
            ("column", "public.orders.total", "integer"),
            ("index", "public.orders_pkey", "CREATE UNIQUE INDEX ..."),
        ]);
        let after = schema(&[
            ("table", "public.orders", "r p"),
            ("column", "public.orders.total", "bigint"),
            ("index", "public.orders_total_idx", "CREATE INDEX ..."),
        ]);
        let d = before.differences(&after);
        let seen: Vec<(Change, &str, &str)> = d
            .iter()
            .map(|d| (d.change, d.kind.as_str(), d.object()))
            .collect();
        assert_eq!(
            seen,
            [
                (Change::Left, "index", "orders_total_idx"),
                (Change::Missing, "index", "orders_pkey"),
                (Change::Changed, "column", "total"),
            ]
        );
        assert!(before.differences(&before.clone()).is_empty());
    }
}
