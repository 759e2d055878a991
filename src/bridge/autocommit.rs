//! Which autocommit statements the bridge may run inside its own `BEGIN` ... `COMMIT`.
//!
//! An autocommit statement releases its locks when it commits, before the client hears
//! it is done, so no boundary after it can see them. For statements that behave the
//! same inside a transaction block, the bridge opens one first, lets the statement run,
//! reads the session's locks while they are still held, and commits; the client sees
//! the statement's own answer and an idle session, as it would have.
//!
//! Only schema changes that PostgreSQL allows in a transaction block and that run the
//! same there are wrapped: never anything `CONCURRENTLY`, `VACUUM`, `LOCK`, `DO` or
//! `CALL` (which may commit themselves), transaction or session commands, data
//! statements (they take no strong locks) or a text of several statements.

use pg_query::NodeEnum;

/// The bridge's own transaction commands, marked so that the statement statistics can
/// leave them out by exact text (PostgreSQL 15 keys utility statements by their text,
/// so they never count as the client's own `BEGIN` or `COMMIT`).
pub const BEGIN: &str = "BEGIN /* preflight trace */";
pub const COMMIT: &str = "COMMIT /* preflight trace */";
pub const ROLLBACK: &str = "ROLLBACK /* preflight trace */";

/// True for one of the bridge's own transaction commands.
pub fn is_own(query: &str) -> bool {
    [BEGIN, COMMIT, ROLLBACK].contains(&query)
}

/// The first keywords of the statements below.
const WRAPPABLE_STARTS: &[&str] = &[
    "ALTER", "CREATE", "DROP", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER", "TRUNCATE",
    "REFRESH",
];

/// True when `text` is one statement the bridge may wrap to trace its locks.
pub fn wrappable(text: &str) -> bool {
    if text.len() > 1 << 16 {
        return false;
    }
    // Most statements are data statements; only these words can start a wrapped one.
    let Some(word) = crate::pg::lexical::first_keyword(text) else {
        return false;
    };
    if !WRAPPABLE_STARTS.contains(&word.as_str()) {
        return false;
    }
    let Ok(tokens) = pg_query::scan(text) else {
        return false;
    };
    let concurrently = tokens
        .tokens
        .iter()
        .any(|t| t.token == pg_query::protobuf::Token::Concurrently as i32);
    if concurrently {
        return false;
    }
    let Ok(parsed) = pg_query::parse(text, 0) else {
        return false;
    };
    let [stmt] = parsed.protobuf.stmts.as_slice() else {
        return false;
    };
    let Some(node) = stmt.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
        return false;
    };
    match node {
        NodeEnum::ReindexStmt(r) => {
            use pg_query::protobuf::ReindexObjectType as K;
            r.kind == K::ReindexObjectIndex as i32 || r.kind == K::ReindexObjectTable as i32
        }
        NodeEnum::ClusterStmt(c) => c.relation.is_some(),
        NodeEnum::AlterTableStmt(_)
        | NodeEnum::IndexStmt(_)
        | NodeEnum::DropStmt(_)
        | NodeEnum::RenameStmt(_)
        | NodeEnum::CreateTrigStmt(_)
        | NodeEnum::CreateStmt(_)
        | NodeEnum::TruncateStmt(_)
        | NodeEnum::RefreshMatViewStmt(_)
        | NodeEnum::CommentStmt(_)
        | NodeEnum::CreateTableAsStmt(_)
        | NodeEnum::ViewStmt(_)
        | NodeEnum::AlterDomainStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::AlterSeqStmt(_)
        | NodeEnum::GrantStmt(_)
        | NodeEnum::AlterOwnerStmt(_)
        | NodeEnum::AlterObjectSchemaStmt(_)
        | NodeEnum::CreatePolicyStmt(_)
        | NodeEnum::AlterPolicyStmt(_)
        | NodeEnum::RuleStmt(_)
        | NodeEnum::CreateStatsStmt(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::wrappable;

    #[test]
    fn schema_changes_are_wrapped_and_what_differs_in_a_block_is_not() {
        for yes in [
            "DROP INDEX orders_total_idx",
            "ALTER TABLE orders RENAME COLUMN total TO amount",
            "CREATE INDEX i ON orders (total)",
            "ALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0)",
            "REINDEX TABLE orders",
            "CREATE TRIGGER t AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        ] {
            assert!(wrappable(yes), "{yes}");
        }
        for no in [
            "CREATE INDEX CONCURRENTLY i ON orders (total)",
            "DROP INDEX CONCURRENTLY i",
            "REINDEX INDEX CONCURRENTLY i",
            "VACUUM FULL orders",
            "LOCK TABLE orders",
            "DO $$ BEGIN COMMIT; END $$",
            "CALL p()",
            "BEGIN",
            "SET lock_timeout = '1s'",
            "UPDATE orders SET total = 0",
            "ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int",
            "REINDEX DATABASE app",
            "CREATE DATABASE x",
            "not sql at all",
        ] {
            assert!(!wrappable(no), "{no}");
        }
    }
}
