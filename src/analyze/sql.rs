//! What a statement's text says, read by PostgreSQL's parser, for the rules that need
//! to know how a change was asked for (NOT VALID, USING INDEX, CONCURRENTLY) on top of
//! what the catalog shows happened.

use pg_query::protobuf::{AlterTableType, ConstrType, DropBehavior, ObjectType, Token};
use pg_query::NodeEnum;

/// The statements of `text`, parsed (none when it does not parse).
fn statements(text: &str) -> Vec<NodeEnum> {
    pg_query::parse(text, 0)
        .map(|p| {
            p.protobuf
                .stmts
                .into_iter()
                .filter_map(|s| s.stmt.and_then(|n| n.node))
                .collect()
        })
        .unwrap_or_default()
}

/// The `ALTER TABLE` commands of `text`, each with the table they act on.
fn alter_table_commands(text: &str) -> Vec<(String, pg_query::protobuf::AlterTableCmd)> {
    let mut out = Vec::new();
    for stmt in statements(text) {
        let NodeEnum::AlterTableStmt(alter) = stmt else {
            continue;
        };
        let table = alter
            .relation
            .as_ref()
            .map(|r| r.relname.clone())
            .unwrap_or_default();
        for cmd in alter.cmds {
            if let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node {
                out.push((table.clone(), *cmd));
            }
        }
    }
    out
}

/// What a rename renames: the table and, for a column, the column's old name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub table: String,
    pub column: Option<String>,
    pub new_name: String,
}

/// The tables and columns `text` renames (`ALTER TABLE t RENAME [COLUMN] a TO b`,
/// `ALTER TABLE a RENAME TO b`).
pub fn renames(text: &str) -> Vec<Renamed> {
    statements(text)
        .into_iter()
        .filter_map(|stmt| {
            let NodeEnum::RenameStmt(r) = stmt else {
                return None;
            };
            let table = r.relation.as_ref()?.relname.clone();
            let column =
                (r.rename_type == ObjectType::ObjectColumn as i32).then(|| r.subname.clone());
            let relation = [
                ObjectType::ObjectTable,
                ObjectType::ObjectView,
                ObjectType::ObjectMatview,
                ObjectType::ObjectForeignTable,
            ]
            .iter()
            .any(|t| r.rename_type == *t as i32);
            (column.is_some() || relation).then_some(Renamed {
                table,
                column,
                new_name: r.newname,
            })
        })
        .collect()
}

/// The columns `text` drops, as (table, column).
pub fn dropped_columns(text: &str) -> Vec<(String, String)> {
    alter_table_commands(text)
        .into_iter()
        .filter(|(_, c)| c.subtype == AlterTableType::AtDropColumn as i32)
        .map(|(t, c)| (t, c.name))
        .collect()
}

/// The objects a `DROP` statement of `text` names (last part of each name).
pub fn dropped(text: &str) -> Vec<String> {
    statements(text)
        .into_iter()
        .filter_map(|stmt| match stmt {
            NodeEnum::DropStmt(d) => Some(d.objects),
            _ => None,
        })
        .flatten()
        .filter_map(|o| match o.node? {
            NodeEnum::List(l) => match l.items.last()?.node.as_ref()? {
                NodeEnum::String(s) => Some(s.sval.clone()),
                _ => None,
            },
            NodeEnum::String(s) => Some(s.sval),
            NodeEnum::TypeName(t) => match t.names.last()?.node.as_ref()? {
                NodeEnum::String(s) => Some(s.sval.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `text` drops with `CASCADE` (a `DROP`, or an `ALTER TABLE ... DROP ... CASCADE`).
pub fn cascades(text: &str) -> bool {
    let cascade = DropBehavior::DropCascade as i32;
    statements(text).into_iter().any(|stmt| {
        match stmt {
        NodeEnum::DropStmt(d) => d.behavior == cascade,
        NodeEnum::AlterTableStmt(a) => a.cmds.iter().any(|c| {
            matches!(c.node.as_ref(), Some(NodeEnum::AlterTableCmd(c)) if c.behavior == cascade)
        }),
        _ => false,
    }
    })
}

/// A column an `ALTER TABLE ... ADD COLUMN` of `text` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedColumn {
    pub table: String,
    pub column: String,
    /// Declared `NOT NULL` with no default, identity or generation: every existing row
    /// fails it, and writers that do not know the column fail too.
    pub bare_not_null: bool,
}

/// The columns `text` adds.
pub fn added_columns(text: &str) -> Vec<AddedColumn> {
    alter_table_commands(text)
        .into_iter()
        .filter(|(_, c)| c.subtype == AlterTableType::AtAddColumn as i32)
        .filter_map(|(table, c)| {
            let Some(NodeEnum::ColumnDef(def)) = c.def.and_then(|d| d.node) else {
                return None;
            };
            let kinds: Vec<i32> = def
                .constraints
                .iter()
                .filter_map(|n| match n.node.as_ref()? {
                    NodeEnum::Constraint(k) => Some(k.contype),
                    _ => None,
                })
                .collect();
            let has = |t: ConstrType| kinds.contains(&(t as i32));
            let bare_not_null = (def.is_not_null || has(ConstrType::ConstrNotnull))
                && def.raw_default.is_none()
                && !has(ConstrType::ConstrDefault)
                && !has(ConstrType::ConstrIdentity)
                && !has(ConstrType::ConstrGenerated);
            Some(AddedColumn {
                table,
                column: def.colname,
                bare_not_null,
            })
        })
        .collect()
}

/// The tables `text` disables triggers on (`ALTER TABLE t DISABLE TRIGGER ...`).
pub fn disables_triggers(text: &str) -> Vec<String> {
    let disable = [
        AlterTableType::AtDisableTrig,
        AlterTableType::AtDisableTrigAll,
        AlterTableType::AtDisableTrigUser,
    ];
    alter_table_commands(text)
        .into_iter()
        .filter(|(_, c)| disable.iter().any(|d| c.subtype == *d as i32))
        .map(|(t, _)| t)
        .collect()
}

/// The table a data statement of `text` writes (`INSERT INTO`, `UPDATE`, `DELETE FROM`,
/// `MERGE INTO`, `CREATE TABLE ... AS`, `SELECT ... INTO`), with its schema when given.
pub fn written_table(text: &str) -> Option<(String, String)> {
    let range = |r: &pg_query::protobuf::RangeVar| (r.schemaname.clone(), r.relname.clone());
    statements(text).into_iter().find_map(|stmt| match stmt {
        NodeEnum::InsertStmt(s) => s.relation.as_ref().map(range),
        NodeEnum::UpdateStmt(s) => s.relation.as_ref().map(range),
        NodeEnum::DeleteStmt(s) => s.relation.as_ref().map(range),
        NodeEnum::MergeStmt(s) => s.relation.as_ref().map(range),
        NodeEnum::CreateTableAsStmt(s) => s.into.as_ref()?.rel.as_ref().map(range),
        NodeEnum::SelectStmt(s) => s.into_clause.as_ref()?.rel.as_ref().map(range),
        _ => None,
    })
}

/// `VACUUM FULL` (which rewrites under ACCESS EXCLUSIVE), not a plain `VACUUM`.
pub fn is_vacuum_full(text: &str) -> bool {
    statements(text).into_iter().any(|stmt| match stmt {
        NodeEnum::VacuumStmt(v) => v
            .options
            .iter()
            .any(|o| matches!(o.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "full")),
        _ => false,
    })
}

/// The statement's text has this keyword (outside strings and comments).
pub fn has_keyword(text: &str, keyword: Token) -> bool {
    pg_query::scan(text).is_ok_and(|s| s.tokens.iter().any(|t| t.token == keyword as i32))
}

pub fn concurrently(text: &str) -> bool {
    has_keyword(text, Token::Concurrently)
}

/// A constraint an `ALTER TABLE ... ADD CONSTRAINT` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedConstraint {
    pub table: String,
    pub name: Option<String>,
    /// `NOT VALID`.
    pub not_valid: bool,
    /// `USING INDEX` (adopts an index that exists).
    pub using_index: bool,
    /// `c`, `f`, `u`, `p`, `x` as in `pg_constraint.contype`.
    pub kind: char,
}

fn constraint_kind(contype: i32) -> Option<char> {
    Some(match ConstrType::try_from(contype).ok()? {
        ConstrType::ConstrCheck => 'c',
        ConstrType::ConstrForeign => 'f',
        ConstrType::ConstrUnique => 'u',
        ConstrType::ConstrPrimary => 'p',
        ConstrType::ConstrExclusion => 'x',
        _ => return None,
    })
}

/// The constraints an `ALTER TABLE` statement adds.
pub fn added_constraints(text: &str) -> Vec<AddedConstraint> {
    alter_table_commands(text)
        .into_iter()
        .filter(|(_, cmd)| cmd.subtype == AlterTableType::AtAddConstraint as i32)
        .filter_map(|(table, cmd)| {
            let Some(NodeEnum::Constraint(c)) = cmd.def.and_then(|d| d.node) else {
                return None;
            };
            Some(AddedConstraint {
                table,
                name: (!c.conname.is_empty()).then(|| c.conname.clone()),
                not_valid: c.skip_validation,
                using_index: !c.indexname.is_empty(),
                kind: constraint_kind(c.contype)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_constraints_say_how_they_were_asked_for() {
        let c = added_constraints(
            "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total > 0) NOT VALID",
        );
        assert_eq!(
            c,
            vec![AddedConstraint {
                table: "orders".into(),
                name: Some("orders_total_check".into()),
                not_valid: true,
                using_index: false,
                kind: 'c',
            }]
        );
        let u = added_constraints("ALTER TABLE a ADD CONSTRAINT a_key UNIQUE USING INDEX a_idx");
        assert!(u[0].using_index && u[0].kind == 'u');
        let f = added_constraints("ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id)");
        assert_eq!(
            (f[0].kind, f[0].name.clone(), f[0].not_valid),
            ('f', None, false)
        );
        assert!(concurrently("create index concurrently i on t (a)"));
        assert!(is_vacuum_full("VACUUM (FULL, ANALYZE) t") && is_vacuum_full("vacuum full t"));
        assert!(!is_vacuum_full("VACUUM ANALYZE t"));
        assert!(!concurrently("create index i on t (a) -- concurrently"));
    }

    #[test]
    fn the_parse_tree_says_what_a_statement_renames_drops_adds_and_writes() {
        assert_eq!(
            renames("ALTER TABLE post RENAME COLUMN published TO published_at"),
            [Renamed {
                table: "post".into(),
                column: Some("published".into()),
                new_name: "published_at".into()
            }]
        );
        assert_eq!(renames("ALTER TABLE a RENAME TO b")[0].column, None);
        assert!(renames("ALTER INDEX a RENAME TO b").is_empty());
        assert_eq!(
            dropped_columns("ALTER TABLE t DROP COLUMN a, DROP COLUMN IF EXISTS b"),
            [("t".to_string(), "a".to_string()), ("t".into(), "b".into())]
        );
        assert_eq!(dropped("DROP TYPE public.mood CASCADE"), ["mood"]);
        assert_eq!(dropped("DROP TABLE a, s.b"), ["a", "b"]);
        assert!(cascades("DROP TYPE mood CASCADE"));
        assert!(cascades("ALTER TABLE t DROP COLUMN a CASCADE"));
        assert!(!cascades("DROP TABLE t"));
        let added = added_columns(
            "ALTER TABLE t ADD COLUMN a int NOT NULL, ADD COLUMN b int NOT NULL DEFAULT 0, ADD COLUMN c int",
        );
        let bare: Vec<bool> = added.iter().map(|a| a.bare_not_null).collect();
        assert_eq!(bare, [true, false, false]);
        assert_eq!(
            written_table(
                "UPDATE person SET x = a.x FROM person_aggregates a WHERE a.id = person.id"
            ),
            Some((String::new(), "person".to_string()))
        );
        assert_eq!(
            written_table("UPDATE pg_catalog.pg_index SET indisready = false").unwrap(),
            ("pg_catalog".to_string(), "pg_index".to_string())
        );
        assert_eq!(
            written_table("CREATE TABLE c AS SELECT * FROM a JOIN b USING (id)")
                .unwrap()
                .1,
            "c"
        );
        assert_eq!(
            disables_triggers("ALTER TABLE t DISABLE TRIGGER ALL"),
            ["t".to_string()]
        );
        assert!(disables_triggers("ALTER TABLE t ENABLE TRIGGER ALL").is_empty());
    }
}
