//! Statement texts, understood by PostgreSQL's own parser (libpg_query): data
//! statements are normalized (constants become `$n`) and fingerprinted; utility
//! statements (DDL) are reduced to their kind and the objects they name, because their
//! text can carry literals verbatim.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    /// `SELECT`, `UPDATE`, `CREATE INDEX`, `ALTER TABLE`, ...
    pub kind: String,
    /// A data statement (SELECT, INSERT, UPDATE, DELETE, MERGE).
    pub is_dml: bool,
    /// Normalized text, for data statements only.
    pub normalized: Option<String>,
    pub fingerprint: Option<String>,
    /// Relations the statement names.
    pub objects: Vec<String>,
}

/// Statement kinds that are session noise, left out of statistics as GitLab does.
const NOISE: &[&str] = &["VariableSetStmt", "VariableShowStmt", "TransactionStmt"];

fn kind_name(node: &str) -> String {
    let special = match node {
        "CreateStmt" => Some("CREATE TABLE"),
        "IndexStmt" => Some("CREATE INDEX"),
        "ViewStmt" => Some("CREATE VIEW"),
        "CreateTableAsStmt" => Some("CREATE TABLE AS"),
        "DropStmt" => Some("DROP"),
        "RenameStmt" => Some("RENAME"),
        "DoStmt" => Some("DO"),
        "VacuumStmt" => Some("VACUUM"),
        "CopyStmt" => Some("COPY"),
        "CreateSeqStmt" => Some("CREATE SEQUENCE"),
        "AlterSeqStmt" => Some("ALTER SEQUENCE"),
        "CreateTrigStmt" => Some("CREATE TRIGGER"),
        "CreatePLangStmt" => Some("CREATE LANGUAGE"),
        "CreatedbStmt" => Some("CREATE DATABASE"),
        "DropdbStmt" => Some("DROP DATABASE"),
        "CompositeTypeStmt" | "CreateEnumStmt" | "CreateRangeStmt" => Some("CREATE TYPE"),
        "AlterEnumStmt" => Some("ALTER TYPE"),
        "AlterObjectSchemaStmt" => Some("ALTER SET SCHEMA"),
        "AlterOwnerStmt" => Some("ALTER OWNER"),
        "CreateStatsStmt" => Some("CREATE STATISTICS"),
        "CreateForeignServerStmt" => Some("CREATE SERVER"),
        "CreateFdwStmt" => Some("CREATE FOREIGN DATA WRAPPER"),
        "CreateOpClassStmt" => Some("CREATE OPERATOR CLASS"),
        "CreateAmStmt" => Some("CREATE ACCESS METHOD"),
        "RuleStmt" => Some("CREATE RULE"),
        "DefineStmt" => Some("CREATE"),
        _ => None,
    };
    if let Some(s) = special {
        return s.to_string();
    }
    let base = node.strip_suffix("Stmt").unwrap_or(node);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The first statement of a parsed text, as its node.
pub fn first_node(parsed: &pg_query::ParseResult) -> Option<&pg_query::NodeEnum> {
    parsed.protobuf.stmts.first()?.stmt.as_ref()?.node.as_ref()
}

/// The last part of a qualified name given as a list of strings (`public.orders`).
fn last_name(node: &pg_query::protobuf::Node) -> Option<String> {
    match node.node.as_ref()? {
        pg_query::NodeEnum::List(l) => match l.items.last()?.node.as_ref()? {
            pg_query::NodeEnum::String(s) => Some(s.sval.clone()),
            _ => None,
        },
        pg_query::NodeEnum::String(s) => Some(s.sval.clone()),
        _ => None,
    }
}

/// What a statement makes, renames, drops, rebuilds or writes, beyond the tables it
/// names: the index a `CREATE INDEX` makes; a rename's old and new name; what `DROP`
/// drops; the relation `REINDEX` rebuilds; the table a data statement writes (before
/// the tables it reads, so the object of an `UPDATE ... FROM` is the updated table).
fn targets(parsed: &pg_query::ParseResult) -> Vec<String> {
    use pg_query::NodeEnum;
    match first_node(parsed) {
        Some(NodeEnum::IndexStmt(s)) if !s.idxname.is_empty() => vec![s.idxname.clone()],
        Some(NodeEnum::RenameStmt(s)) => {
            let mut names: Vec<String> = s.relation.iter().map(|r| r.relname.clone()).collect();
            names.extend(s.object.as_deref().and_then(last_name));
            names.extend([s.subname.clone(), s.newname.clone()]);
            names.retain(|n| !n.is_empty());
            names
        }
        Some(NodeEnum::DropStmt(s)) => s.objects.iter().filter_map(last_name).collect(),
        Some(NodeEnum::ReindexStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::CreateStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::InsertStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::UpdateStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::DeleteStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::MergeStmt(s)) => s.relation.iter().map(|r| r.relname.clone()).collect(),
        Some(NodeEnum::CreateTableAsStmt(s)) => s
            .into
            .iter()
            .flat_map(|i| &i.rel)
            .map(|r| r.relname.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Classifies one statement; `None` for session noise (SET, SHOW, BEGIN, COMMIT, ...).
pub fn classify(query: &str) -> Option<Classified> {
    let Ok(parsed) = pg_query::parse(query, 0) else {
        return Some(Classified {
            kind: "UNPARSED".into(),
            is_dml: false,
            normalized: None,
            fingerprint: None,
            objects: vec![],
        });
    };
    let types = parsed.statement_types();
    if !types.is_empty() && types.iter().all(|t| NOISE.contains(t)) {
        return None;
    }
    let first = types.first().copied().unwrap_or("UtilityStmt");
    let is_dml = matches!(
        first,
        "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
    );
    // What it makes, renames, drops or rebuilds, then the tables it names.
    let mut objects: Vec<String> = Vec::new();
    for name in targets(&parsed).into_iter().chain(parsed.tables()) {
        if !objects.contains(&name) {
            objects.push(name);
        }
    }
    Some(Classified {
        kind: kind_name(first),
        is_dml,
        normalized: if is_dml {
            pg_query::normalize(query).ok()
        } else {
            None
        },
        fingerprint: pg_query::fingerprint(query, 0, 0).ok().map(|f| f.hex),
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sql_command_names() {
        let kind = |q: &str| classify(q).unwrap().kind;
        assert_eq!(kind("CREATE SEQUENCE s"), "CREATE SEQUENCE");
        assert_eq!(kind("ALTER SEQUENCE s RESTART"), "ALTER SEQUENCE");
        assert_eq!(
            kind("CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()"),
            "CREATE TRIGGER"
        );
        assert_eq!(kind("CREATE TYPE mood AS ENUM ('a')"), "CREATE TYPE");
        assert_eq!(kind("ALTER TABLE x ADD COLUMN y int"), "ALTER TABLE");
    }

    #[test]
    fn create_index_names_the_index_and_the_table() {
        let c = classify("CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)").unwrap();
        assert_eq!(c.kind, "CREATE INDEX");
        assert_eq!(c.objects, ["orders_total_idx", "orders"]);
        let unnamed = classify("CREATE INDEX ON orders (total)").unwrap();
        assert_eq!(unnamed.objects, ["orders"]);
    }

    #[test]
    fn rename_drop_and_reindex_name_their_targets() {
        let objects = |q: &str| classify(q).unwrap().objects;
        assert_eq!(
            objects("ALTER TABLE customers RENAME COLUMN nick TO nickname"),
            ["customers", "nick", "nickname"]
        );
        assert_eq!(
            objects("ALTER TABLE old_t RENAME TO new_t"),
            ["old_t", "new_t"]
        );
        assert_eq!(
            objects("ALTER INDEX a_idx RENAME TO b_idx"),
            ["a_idx", "b_idx"]
        );
        assert_eq!(
            objects("DROP INDEX IF EXISTS public.orders_total_idx, other_idx"),
            ["orders_total_idx", "other_idx"]
        );
        assert_eq!(objects("DROP TABLE scratch"), ["scratch"]);
        assert_eq!(
            objects("REINDEX INDEX orders_total_idx"),
            ["orders_total_idx"]
        );
        assert_eq!(objects("REINDEX TABLE orders"), ["orders"]);
        assert_eq!(
            objects("ALTER TABLE t RENAME CONSTRAINT c1 TO c2"),
            ["t", "c1", "c2"]
        );
    }

    #[test]
    fn data_statements_are_normalized() {
        let c = classify("UPDATE accounts SET plan = 'x' WHERE id < 10").unwrap();
        assert_eq!(c.kind, "UPDATE");
        assert!(c.is_dml);
        assert_eq!(
            c.normalized.as_deref(),
            Some("UPDATE accounts SET plan = $1 WHERE id < $2")
        );
        assert_eq!(c.objects, vec!["accounts".to_string()]);
        let from =
            classify("UPDATE person SET n = a.n FROM person_aggregates a WHERE a.id = person.id");
        assert_eq!(from.unwrap().objects, ["person", "person_aggregates"]);
        let made =
            classify("CREATE TABLE l (id int, c int REFERENCES comment, p int REFERENCES person)");
        assert_eq!(made.unwrap().objects[0], "l");
        let ctas = classify("CREATE TABLE c AS SELECT * FROM a JOIN b USING (id)").unwrap();
        assert_eq!(
            (ctas.kind.as_str(), ctas.objects[0].as_str()),
            ("CREATE TABLE AS", "c")
        );
        assert_eq!(
            c.fingerprint,
            classify("update accounts set plan='y' where id<3")
                .unwrap()
                .fingerprint
        );
    }

    #[test]
    fn ddl_keeps_kind_and_objects_only() {
        let c = classify("ALTER TABLE accounts ALTER COLUMN plan SET DEFAULT 'secret'").unwrap();
        assert_eq!(c.kind, "ALTER TABLE");
        assert!(!c.is_dml);
        assert_eq!(c.normalized, None);
        assert_eq!(c.objects, vec!["accounts".to_string()]);
        assert_eq!(
            classify("CREATE INDEX i ON t (a)").unwrap().kind,
            "CREATE INDEX"
        );
    }

    #[test]
    fn session_noise_is_dropped() {
        assert_eq!(classify("SET lock_timeout = '1s'"), None);
        assert_eq!(classify("BEGIN"), None);
        assert!(classify("SELECT 1").is_some());
    }
}
