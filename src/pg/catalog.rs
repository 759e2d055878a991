//! The catalog facts the findings need, read by the observer before and after each
//! migration (committed state): relations with their file nodes, indexes and whether
//! they are valid, constraints and whether they were validated, columns with type,
//! nullability, default and generation. Comparing the two snapshots says what the
//! migration changed; a relation in the first existed before it began.

use serde::Serialize;
use std::collections::HashMap;

/// Schemas that are not the application's.
pub(crate) const USER_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'preflight_trace') \
     AND n.nspname NOT LIKE 'pg\\_%'";

pub fn relations_query() -> String {
    format!(
        "SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, c.relfilenode::int8, \
                coalesce(i.indrelid::int8, 0), \
                CASE WHEN c.relkind IN ('r', 'm', 'i') THEN pg_relation_size(c.oid) ELSE 0 END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE {USER_SCHEMAS}"
    )
}

pub fn indexes_query() -> String {
    format!(
        "SELECT i.indexrelid::int8, i.indrelid::int8, i.indisvalid, i.indisunique, \
                i.indkey::int2[], i.indexprs IS NOT NULL OR i.indpred IS NOT NULL \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}"
    )
}

pub fn constraints_query() -> String {
    format!(
        "SELECT k.oid::int8, k.conrelid::int8, k.conname::text, k.contype::text, k.convalidated, \
                coalesce(k.conkey, '{{}}'::int2[]), k.conindid::int8, k.confrelid::int8, \
                pg_get_constraintdef(k.oid) \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}"
    )
}

pub fn columns_query() -> String {
    format!(
        "SELECT a.attrelid::int8, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text, a.attidentity::text \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND {USER_SCHEMAS}"
    )
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// `r` table, `i` index, `S` sequence, `v` view, `m` materialized view, `p`, `I`, ...
    pub kind: String,
    pub filenode: i64,
    /// For an index, its table.
    pub table: Option<i64>,
    /// Bytes of the main fork (tables, materialized views and indexes).
    pub bytes: i64,
}

impl Relation {
    /// The name as the MR would spell it (schema left out for `public`).
    pub fn display(&self) -> String {
        if self.schema == "public" {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }

    pub fn is_index(&self) -> bool {
        matches!(self.kind.as_str(), "i" | "I")
    }

    pub fn is_table(&self) -> bool {
        matches!(self.kind.as_str(), "r" | "p")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Index {
    pub table: i64,
    pub valid: bool,
    pub unique: bool,
    /// Column numbers (0 for an expression).
    pub columns: Vec<i16>,
    /// An expression or partial index.
    pub partial_or_expression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub table: i64,
    pub name: String,
    /// `c` check, `f` foreign key, `u` unique, `p` primary key, `x` exclusion, `n`, `t`.
    pub kind: String,
    pub validated: bool,
    pub columns: Vec<i16>,
    pub index: i64,
    pub references: i64,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// `s` for a stored generated column.
    pub generated: String,
    /// `a` or `d` for an identity column.
    pub identity: String,
}

/// One snapshot of the application's schema.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub relations: HashMap<i64, Relation>,
    pub indexes: HashMap<i64, Index>,
    pub constraints: HashMap<i64, Constraint>,
    pub columns: HashMap<(i64, i16), Column>,
}

impl Catalog {
    pub async fn read(client: &tokio_postgres::Client) -> Result<Catalog, tokio_postgres::Error> {
        let mut cat = Catalog::default();
        for r in client.query(&relations_query(), &[]).await? {
            let table: i64 = r.get(5);
            cat.relations.insert(
                r.get(0),
                Relation {
                    schema: r.get(1),
                    name: r.get(2),
                    kind: r.get(3),
                    filenode: r.get(4),
                    table: (table != 0).then_some(table),
                    bytes: r.get(6),
                },
            );
        }
        for r in client.query(&indexes_query(), &[]).await? {
            cat.indexes.insert(
                r.get(0),
                Index {
                    table: r.get(1),
                    valid: r.get(2),
                    unique: r.get(3),
                    columns: r.get(4),
                    partial_or_expression: r.get(5),
                },
            );
        }
        for r in client.query(&constraints_query(), &[]).await? {
            cat.constraints.insert(
                r.get(0),
                Constraint {
                    table: r.get(1),
                    name: r.get(2),
                    kind: r.get(3),
                    validated: r.get(4),
                    columns: r.get(5),
                    index: r.get(6),
                    references: r.get(7),
                    definition: r.get(8),
                },
            );
        }
        for r in client.query(&columns_query(), &[]).await? {
            cat.columns.insert(
                (r.get(0), r.get(1)),
                Column {
                    name: r.get(2),
                    type_name: r.get(3),
                    not_null: r.get(4),
                    default: r.get(5),
                    generated: r.get(6),
                    identity: r.get(7),
                },
            );
        }
        Ok(cat)
    }

    /// Bytes of this snapshot's relations that `later` has under a new file node (a
    /// rewrite: the old copy stays on disk until the rewrite commits).
    pub fn rewritten_bytes(&self, later: &Catalog) -> i64 {
        self.relations
            .iter()
            .filter(|(oid, r)| {
                later
                    .relations
                    .get(oid)
                    .is_some_and(|l| l.filenode != r.filenode)
            })
            .map(|(_, r)| r.bytes.max(0))
            .sum()
    }

    /// The relation's display name, or its oid when this snapshot does not have it.
    pub fn name(&self, oid: i64) -> String {
        self.relations
            .get(&oid)
            .map(Relation::display)
            .unwrap_or_else(|| format!("(relation {oid})"))
    }
}
