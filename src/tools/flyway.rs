//! Flyway's rule for statements that cannot run in a transaction. Flyway runs each
//! versioned migration in one transaction, but its PostgreSQL parser marks statements
//! PostgreSQL refuses inside a transaction block (`CREATE INDEX CONCURRENTLY`, `VACUUM`,
//! `ALTER SYSTEM`, ...) and runs a migration made only of those without one. A migration
//! that mixes both kinds is refused by Flyway unless `mixed` is set; preflight then runs
//! it in one transaction, where PostgreSQL refuses it too (25001), so the rehearsal fails
//! where production would.

use super::Transaction;
use pg_query::NodeEnum;

/// Whether PostgreSQL refuses `stmt` inside a transaction block.
fn cannot_run_in_transaction(stmt: &NodeEnum) -> bool {
    match stmt {
        NodeEnum::IndexStmt(s) => s.concurrent,
        NodeEnum::DropStmt(s) => s.concurrent,
        NodeEnum::ReindexStmt(s) => s
            .params
            .iter()
            .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently")),
        NodeEnum::VacuumStmt(s) => s.is_vacuumcmd,
        NodeEnum::CreatedbStmt(_)
        | NodeEnum::DropdbStmt(_)
        | NodeEnum::AlterSystemStmt(_)
        | NodeEnum::CreateTableSpaceStmt(_)
        | NodeEnum::DropTableSpaceStmt(_)
        | NodeEnum::CreateSubscriptionStmt(_)
        | NodeEnum::DropSubscriptionStmt(_) => true,
        _ => false,
    }
}

/// How Flyway runs a file of `sql`: in one transaction, unless every statement is one
/// that cannot run in a transaction.
pub fn transaction(sql: &str) -> Transaction {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return Transaction::WholeFile;
    };
    let kinds: Vec<bool> = parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|s| s.stmt.as_ref().and_then(|n| n.node.as_ref()))
        .map(cannot_run_in_transaction)
        .collect();
    if !kinds.is_empty() && kinds.iter().all(|k| *k) {
        Transaction::PerStatement
    } else {
        Transaction::WholeFile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_of_non_transactional_statements_runs_without_one() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON t (a);",
            "DROP INDEX CONCURRENTLY i; CREATE UNIQUE INDEX CONCURRENTLY j ON t (b);",
            "REINDEX (CONCURRENTLY) INDEX i;",
            "VACUUM t;",
            "ALTER SYSTEM SET work_mem = '64MB';",
        ] {
            assert_eq!(transaction(sql), Transaction::PerStatement, "{sql}");
        }
        for sql in [
            "CREATE INDEX i ON t (a);",
            "ALTER TABLE t ADD COLUMN c int; CREATE INDEX CONCURRENTLY i ON t (c);",
            "ANALYZE t;",
            "not sql at all",
            "",
        ] {
            assert_eq!(transaction(sql), Transaction::WholeFile, "{sql}");
        }
    }
}
