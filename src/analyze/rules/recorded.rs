//! A recorded migration for the rules' unit tests: tables, statements and lock spans
//! written down as the trace would have them, judged with no database.

use crate::analyze::{Finding, Input, Thresholds};
use crate::config::table_owners::TableOwners;
use crate::model::MigrationOutcome;
use crate::pg::catalog::{Catalog, Relation};
use crate::pg::lock_mode::LockMode;
use crate::trace::timeline::{LockSpan, Timeline, TracedStatement};

pub struct Recorded {
    pub trace: Timeline,
    pub before: Catalog,
    pub after: Catalog,
    pub thresholds: Thresholds,
    pub owners: TableOwners,
}

impl Recorded {
    pub fn new() -> Recorded {
        Recorded {
            trace: Timeline::default(),
            before: Catalog::default(),
            after: Catalog::default(),
            thresholds: Thresholds::default(),
            owners: TableOwners::new(vec![]).unwrap(),
        }
    }

    /// A table (or index of `table`) that existed before and still does.
    pub fn relation(
        mut self,
        oid: i64,
        name: &str,
        kind: &str,
        table: Option<i64>,
        bytes: i64,
    ) -> Self {
        let r = Relation {
            schema: "public".into(),
            name: name.into(),
            kind: kind.into(),
            filenode: oid,
            table,
            bytes,
        };
        self.before.relations.insert(oid, r.clone());
        self.after.relations.insert(oid, r);
        self
    }

    pub fn table(self, oid: i64, name: &str, bytes: i64) -> Self {
        self.relation(oid, name, "r", None, bytes)
    }

    /// A statement, numbered as the file's next one, in transaction `tx`, from `from`
    /// to `to` ms.
    pub fn statement(mut self, text: &str, tx: usize, from: f64, to: f64) -> Self {
        let index = self.trace.statements.len() + 1;
        let mut s = TracedStatement::bare(index, text);
        s.number = Some(index);
        s.line = Some(index);
        s.transaction = tx;
        s.started_ms = from;
        s.ended_ms = to;
        s.lock_timeout = Some("0".into());
        self.trace.statements.push(s);
        self
    }

    /// A lock on table `oid` taken by statement `index`, held `from`..`to` ms.
    pub fn lock(mut self, oid: i64, mode: LockMode, index: usize, from: f64, to: f64) -> Self {
        let name = self.before.name(oid);
        let st = &self.trace.statements[index - 1];
        let later = self
            .trace
            .statements
            .iter()
            .filter(|s| s.transaction == st.transaction && s.index > index)
            .filter(|s| !crate::trace::timeline::is_transaction_control(&s.kind))
            .count();
        self.trace.locks.push(LockSpan {
            oid,
            relation: name.clone(),
            table_oid: oid,
            table: name,
            mode,
            statement_index: index,
            transaction: st.transaction,
            acquired_ms: from,
            released_ms: to,
            held_ms: to - from,
            preexisting: self.before.relations.contains_key(&oid),
            lock_timeout: st.lock_timeout.clone(),
            later_statements: later,
            relfilenode: Some(oid),
        });
        self
    }

    /// Runs `check` on the recording.
    pub fn judge(&self, check: fn(&Input<'_>) -> Vec<Finding>) -> Vec<Finding> {
        check(&Input {
            outcome: MigrationOutcome::Succeeded,
            sqlstate: None,
            wall_s: 1.0,
            wal_bytes: 0,
            trace: &self.trace,
            stats: &[],
            sampled: &[],
            before: &self.before,
            after: &self.after,
            default_lock_timeout: "0",
            post_deploy: false,
            thresholds: &self.thresholds,
            database: "main",
            owners: &self.owners,
            traffic: None,
        })
    }
}
