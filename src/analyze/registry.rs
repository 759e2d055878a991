//! Every finding preflight raises, as static data: id, severity, the one-line danger,
//! how the run sees it, and the safe pattern (shared/reference/dangers.md). The note,
//! the full report and the documentation pages (docs/findings/<id>.md) all read it here.

pub use crate::model::{RuleId, Severity};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: RuleId,
    pub severity: Severity,
    /// What goes wrong, in one line.
    pub danger: &'static str,
    /// What to do instead, in one line.
    pub fix: &'static str,
    /// Judged from the statement and the catalog diff alone (no lock or time measured).
    pub is_static: bool,
}

const fn rule(id: RuleId, severity: Severity, danger: &'static str, fix: &'static str) -> Rule {
    Rule {
        id,
        severity,
        danger,
        fix,
        is_static: false,
    }
}

use Severity::{Error, Info, Warning};

pub const RULES: &[Rule] = &[
    rule(RuleId::L01, Warning, "a lock that blocks the application was taken with no lock_timeout", "SET lock_timeout to a few seconds and retry on timeout"),
    rule(RuleId::L02, Warning, "a lock that blocks the application stayed held while further statements ran", "one dangerous statement per transaction; do the rest in later transactions"),
    rule(RuleId::L03, Error, "a lock that blocks the application was held longer than the threshold", "split the work; use the concurrent or NOT VALID forms"),
    rule(RuleId::L04, Error, "application statements waited behind the migration longer than the threshold (measured under generated traffic)", "take the lock for less time: lock_timeout and retries, smaller steps, the concurrent forms"),
    rule(RuleId::R01, Error, "a table or index was rewritten under a lock that blocks the application", "add the column and backfill in batches; prefer binary-compatible changes"),
    rule(RuleId::I01, Error, "an index was built on an existing table without CONCURRENTLY (writes blocked for the whole build)", "CREATE INDEX CONCURRENTLY, outside a transaction"),
    rule(RuleId::I02, Error, "an index was dropped without CONCURRENTLY (ACCESS EXCLUSIVE on its table)", "DROP INDEX CONCURRENTLY"),
    rule(RuleId::I03, Error, "CONCURRENTLY was used inside a transaction block and failed", "run it outside a transaction (the tool's no-transaction option)"),
    rule(RuleId::I04, Error, "an INVALID index was left behind", "drop it and build it again; make the migration idempotent"),
    rule(RuleId::I05, Error, "REINDEX, VACUUM FULL or CLUSTER rewrote an existing relation under ACCESS EXCLUSIVE", "REINDEX CONCURRENTLY; pg_repack-style tools"),
    rule(RuleId::C01, Error, "a CHECK or FOREIGN KEY constraint was added already valid (full scan under the lock)", "ADD ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction"),
    rule(RuleId::C02, Error, "SET NOT NULL on an existing column scanned the table under ACCESS EXCLUSIVE", "add CHECK (col IS NOT NULL) NOT VALID, validate it, then SET NOT NULL"),
    rule(RuleId::C03, Error, "a UNIQUE or PRIMARY KEY constraint built its index inside ALTER TABLE (under ACCESS EXCLUSIVE)", "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX"),
    rule(RuleId::C04, Warning, "a foreign key has no index on its referencing columns", "create the index (concurrently) first"),
    rule(RuleId::C05, Error, "an exclusion constraint was added to an existing table", "build it on a new table, or plan a maintenance window"),
    rule(RuleId::T01, Error, "a column type change rewrote the table", "new column, write to both, backfill in batches, swap"),
    rule(RuleId::T02, Error, "a column added with a volatile default rewrote the table", "add the column without a default, then backfill in batches"),
    rule(RuleId::T03, Error, "a serial, identity or stored generated column added to an existing table rewrote it", "identity column on a new table; backfill"),
    rule(RuleId::T04, Info, "a json column was added (jsonb is almost always what is wanted)", "use jsonb"),
    Rule { is_static: true, ..rule(RuleId::S01, Warning, "a column or table was renamed while the running application still uses the old name", "add the new one, copy, switch readers, drop the old one over several releases") },
    Rule { is_static: true, ..rule(RuleId::S02, Warning, "a column or table was dropped while the running application may still read it", "stop using it in one release, drop it in a later post-deploy migration") },
    rule(RuleId::S03, Error, "a NOT NULL column with no default was added to an existing table", "add it nullable or with a default"),
    rule(RuleId::D01, Warning, "the migration ran longer than the guideline for regular migrations", "move the work to a post-deploy or background migration"),
    rule(RuleId::D02, Warning, "the post-deploy migration ran longer than its guideline", "a background (batched) migration"),
    rule(RuleId::D03, Warning, "a single statement ran longer than the guideline", "batch it, add an index, or rewrite the query"),
    rule(RuleId::B01, Warning, "one statement changed very many rows", "a batched background migration"),
    rule(RuleId::B02, Warning, "a batch of the declared background migration ran longer than the guideline", "smaller batches; an index on the key range"),
    rule(RuleId::B03, Error, "a batch of the declared background migration took a lock that blocks writes", "batch with row-level statements (UPDATE, DELETE, INSERT); no DDL or LOCK TABLE in a batch"),
    rule(RuleId::B04, Warning, "the declared background migration's batch statement reads its table sequentially (no index on the key range)", "walk the primary key or an indexed column"),
    rule(RuleId::W01, Warning, "the migration wrote a lot of WAL (replicas fall behind)", "batches with pauses"),
    rule(RuleId::X01, Error, "a migration for one database touched a table that belongs to another (decomposed databases)", "move the migration to the database that owns the table"),
    rule(RuleId::F01, Error, "the migration failed", "see the SQLSTATE; the full error is in the protected job log"),
    rule(RuleId::U01, Warning, "the migration's down failed, so it cannot be rolled back", "fix the down; test it with the up before merging"),
    rule(RuleId::U02, Warning, "the migration's down left the schema different from before its up", "make the down undo exactly what the up did: every table, column, index, constraint, function and grant"),
    rule(RuleId::Q01, Warning, "a declared query scans a large table sequentially after the migrations, where it did not before", "keep or add the index the query needs; check the plan with EXPLAIN"),
    rule(RuleId::Q02, Warning, "a declared query got slower or reads more buffers after the migrations", "keep the index or statistics it relied on; rewrite the query for the new schema"),
    rule(RuleId::Q03, Warning, "the planner misestimates a declared query's rows by far after the migrations", "ANALYZE the changed tables in the migration; extended statistics for correlated columns"),
    rule(RuleId::Q04, Error, "a declared query fails after the migrations, where it ran before", "keep the old schema until the application no longer runs the query"),
    rule(RuleId::U03, Warning, "the migration failed when applied again after its down", "make the down complete and the up repeatable (IF NOT EXISTS, guarded data changes)"),
    rule(RuleId::I06, Error, "an index was dropped and built again under the same name without CONCURRENTLY (queries lose it, writes wait for the build)", "CREATE INDEX CONCURRENTLY under a new name, then DROP INDEX CONCURRENTLY the old one and rename"),
    Rule { is_static: true, ..rule(RuleId::S04, Warning, "DROP ... CASCADE also dropped objects that depend on it", "drop the dependent objects by name first, so the migration says what goes") },
    rule(RuleId::K01, Error, "the migration wrote to a system catalog directly", "use the SQL command that makes the change (ALTER, REINDEX ... CONCURRENTLY); catalog writes bypass locking and can corrupt"),
    rule(RuleId::C06, Warning, "triggers were disabled on an existing table, so foreign keys and triggers are not enforced while they are off", "keep triggers on; batch the data change; if they must go off, re-enable them in the same transaction"),
    rule(RuleId::W02, Warning, "ACCESS EXCLUSIVE was held longer than hot standbys wait: it is replayed there and blocks or cancels their reads", "shorter locks (lock_timeout and retries, the concurrent forms); batch the work"),
];

/// The rule with this id spelled `PF-L01`, if there is one.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.as_str() == id)
}

/// The rule of `id` (every id has one: a test checks the table against [`RuleId::ALL`]).
pub fn rule_by_id(id: RuleId) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no rule {id} in the registry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_exactly_one_rule() {
        for id in RuleId::ALL {
            assert_eq!(RULES.iter().filter(|r| r.id == *id).count(), 1, "{id}");
        }
        assert_eq!(RULES.len(), RuleId::ALL.len());
    }

    #[test]
    fn every_rule_has_its_documentation_page() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings");
        for r in RULES {
            let page = dir.join(format!("{}.md", r.id.as_str()));
            let text = std::fs::read_to_string(&page)
                .unwrap_or_else(|e| panic!("{}: {e}", page.display()));
            assert!(
                text.starts_with(&format!("# {}", r.id.as_str())),
                "{}",
                page.display()
            );
            assert!(text.contains("```sql"), "{} shows no SQL", page.display());
        }
    }
}
