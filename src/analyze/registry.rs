//! Every finding preflight raises, as static data: id, severity, the one-line danger,
//! how the run sees it, and the safe pattern (shared/reference/dangers.md). The note,
//! the full report and the documentation pages (docs/findings/<id>.md) all read it here.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; production will not notice.
    Info,
    /// May hurt production, depending on its traffic.
    Warning,
    /// Will hurt production: blocks the application, rewrites, fails.
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// What goes wrong, in one line.
    pub danger: &'static str,
    /// What to do instead, in one line.
    pub fix: &'static str,
    /// Judged from the statement and the catalog diff alone (no lock or time measured).
    pub is_static: bool,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    danger: &'static str,
    fix: &'static str,
) -> Rule {
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
    rule("PF-L01", Warning, "a lock that blocks the application was taken with no lock_timeout", "SET lock_timeout to a few seconds and retry on timeout"),
    rule("PF-L02", Warning, "a lock that blocks the application stayed held while further statements ran", "one dangerous statement per transaction; do the rest in later transactions"),
    rule("PF-L03", Error, "a lock that blocks the application was held longer than the threshold", "split the work; use the concurrent or NOT VALID forms"),
    rule("PF-L04", Error, "application statements waited behind the migration longer than the threshold (measured under generated traffic)", "take the lock for less time: lock_timeout and retries, smaller steps, the concurrent forms"),
    rule("PF-R01", Error, "a table or index was rewritten under a lock that blocks the application", "add the column and backfill in batches; prefer binary-compatible changes"),
    rule("PF-I01", Error, "an index was built on an existing table without CONCURRENTLY (writes blocked for the whole build)", "CREATE INDEX CONCURRENTLY, outside a transaction"),
    rule("PF-I02", Error, "an index was dropped without CONCURRENTLY (ACCESS EXCLUSIVE on its table)", "DROP INDEX CONCURRENTLY"),
    rule("PF-I03", Error, "CONCURRENTLY was used inside a transaction block and failed", "run it outside a transaction (the tool's no-transaction option)"),
    rule("PF-I04", Error, "an INVALID index was left behind", "drop it and build it again; make the migration idempotent"),
    rule("PF-I05", Error, "REINDEX, VACUUM FULL or CLUSTER rewrote an existing relation under ACCESS EXCLUSIVE", "REINDEX CONCURRENTLY; pg_repack-style tools"),
    rule("PF-C01", Error, "a CHECK or FOREIGN KEY constraint was added already valid (full scan under the lock)", "ADD ... NOT VALID, then VALIDATE CONSTRAINT in a separate transaction"),
    rule("PF-C02", Error, "SET NOT NULL on an existing column scanned the table under ACCESS EXCLUSIVE", "add CHECK (col IS NOT NULL) NOT VALID, validate it, then SET NOT NULL"),
    rule("PF-C03", Error, "a UNIQUE or PRIMARY KEY constraint built its index inside ALTER TABLE (under ACCESS EXCLUSIVE)", "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX"),
    rule("PF-C04", Warning, "a foreign key has no index on its referencing columns", "create the index (concurrently) first"),
    rule("PF-C05", Error, "an exclusion constraint was added to an existing table", "build it on a new table, or plan a maintenance window"),
    rule("PF-T01", Error, "a column type change rewrote the table", "new column, write to both, backfill in batches, swap"),
    rule("PF-T02", Error, "a column added with a volatile default rewrote the table", "add the column without a default, then backfill in batches"),
    rule("PF-T03", Error, "a serial, identity or stored generated column added to an existing table rewrote it", "identity column on a new table; backfill"),
    rule("PF-T04", Info, "a json column was added (jsonb is almost always what is wanted)", "use jsonb"),
    Rule { is_static: true, ..rule("PF-S01", Warning, "a column or table was renamed while the running application still uses the old name", "add the new one, copy, switch readers, drop the old one over several releases") },
    Rule { is_static: true, ..rule("PF-S02", Warning, "a column or table was dropped while the running application may still read it", "stop using it in one release, drop it in a later post-deploy migration") },
    rule("PF-S03", Error, "a NOT NULL column with no default was added to an existing table", "add it nullable or with a default"),
    rule("PF-D01", Warning, "the migration ran longer than the guideline for regular migrations", "move the work to a post-deploy or background migration"),
    rule("PF-D02", Warning, "the post-deploy migration ran longer than its guideline", "a background (batched) migration"),
    rule("PF-D03", Warning, "a single statement ran longer than the guideline", "batch it, add an index, or rewrite the query"),
    rule("PF-B01", Warning, "one statement changed very many rows", "a batched background migration"),
    rule("PF-B02", Warning, "a batch of the declared background migration ran longer than the guideline", "smaller batches; an index on the key range"),
    rule("PF-B03", Error, "a batch of the declared background migration took a lock that blocks writes", "batch with row-level statements (UPDATE, DELETE, INSERT); no DDL or LOCK TABLE in a batch"),
    rule("PF-B04", Warning, "the declared background migration's batch statement reads its table sequentially (no index on the key range)", "walk the primary key or an indexed column"),
    rule("PF-W01", Warning, "the migration wrote a lot of WAL (replicas fall behind)", "batches with pauses"),
    rule("PF-X01", Error, "a migration for one database touched a table that belongs to another (decomposed databases)", "move the migration to the database that owns the table"),
    rule("PF-F01", Error, "the migration failed", "see the SQLSTATE; the full error is in the protected job log"),
    rule("PF-U01", Warning, "the migration's down failed, so it cannot be rolled back", "fix the down; test it with the up before merging"),
    rule("PF-U02", Warning, "the migration's down left the schema different from before its up", "make the down undo exactly what the up did: every table, column, index, constraint, function and grant"),
    rule("PF-Q01", Warning, "a declared query scans a large table sequentially after the migrations, where it did not before", "keep or add the index the query needs; check the plan with EXPLAIN"),
    rule("PF-Q02", Warning, "a declared query got slower or reads more buffers after the migrations", "keep the index or statistics it relied on; rewrite the query for the new schema"),
    rule("PF-Q03", Warning, "the planner misestimates a declared query's rows by far after the migrations", "ANALYZE the changed tables in the migration; extended statistics for correlated columns"),
    rule("PF-Q04", Error, "a declared query fails after the migrations, where it ran before", "keep the old schema until the application no longer runs the query"),
    rule("PF-U03", Warning, "the migration failed when applied again after its down", "make the down complete and the up repeatable (IF NOT EXISTS, guarded data changes)"),
];

/// The rule with this id, if there is one.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The rule with this id (the rules' own ids, known to be in the registry).
pub fn rule_by_id(id: &str) -> &'static Rule {
    find(id).unwrap_or_else(|| panic!("no rule {id} in the registry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for id in ids {
            assert!(id.starts_with("PF-") && id.len() == 6, "{id}");
        }
    }

    #[test]
    fn every_rule_has_its_documentation_page() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings");
        for r in RULES {
            let page = dir.join(format!("{}.md", r.id));
            let text = std::fs::read_to_string(&page)
                .unwrap_or_else(|e| panic!("{}: {e}", page.display()));
            assert!(
                text.starts_with(&format!("# {}", r.id)),
                "{}",
                page.display()
            );
            assert!(text.contains("```sql"), "{} shows no SQL", page.display());
        }
    }
}
