//! From the bridge's raw records to the migration's timeline: each statement with its
//! times relative to the migration's start and the locks held after it, and each lock
//! as a span from the statement that first took it to the end of its transaction.

use super::{HeldLock, StatementRecord};
pub use crate::model::trace::{Elided, LockSpan, Timeline, TracedLock, TracedStatement};
use crate::pg::catalog::{Catalog, Relation};
use crate::pg::lock_mode::LockMode;
use crate::pg::statement::classify;
use std::collections::BTreeMap;
use std::time::Instant;

fn ms(since: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(since).as_secs_f64() * 1000.0
}

/// Statements that only steer the transaction or the session.
pub(crate) fn is_transaction_control(kind: &str) -> bool {
    matches!(kind, "TRANSACTION" | "SET" | "SHOW" | "")
}

/// The statement's kind and the relations it names, from PostgreSQL's parser.
fn statement_kind(text: &str) -> (String, Vec<String>) {
    match classify(text) {
        Some(c) => (c.kind, c.objects),
        None => {
            // Session noise: name it by its first word (BEGIN, COMMIT, SET).
            let first = text.split_whitespace().next().unwrap_or("");
            let kind = match first.to_ascii_uppercase().as_str() {
                "SET" | "RESET" => "SET",
                "SHOW" => "SHOW",
                _ => "TRANSACTION",
            };
            (kind.into(), Vec::new())
        }
    }
}

/// Relations as the two snapshots know them: the one before names what existed, the one
/// after what the migration made.
struct Snapshots<'a> {
    before: &'a Catalog,
    after: &'a Catalog,
}

impl Snapshots<'_> {
    fn relation(&self, oid: i64) -> Option<&Relation> {
        self.before
            .relations
            .get(&oid)
            .or_else(|| self.after.relations.get(&oid))
    }

    fn name(&self, oid: i64) -> String {
        self.relation(oid)
            .map(Relation::display)
            .unwrap_or_else(|| format!("(relation {oid})"))
    }

    /// The table a relation protects: an index's table, else itself.
    fn table_of(&self, oid: i64) -> i64 {
        self.relation(oid).and_then(|r| r.table).unwrap_or(oid)
    }
}

/// Builds the timeline; `before` names the relations that existed, `after` the new ones.
pub fn build(
    records: &[StatementRecord],
    started: Instant,
    before: &Catalog,
    after: &Catalog,
) -> Timeline {
    let snapshots = Snapshots { before, after };
    let mut statements = Vec::with_capacity(records.len());
    let mut spans: Vec<LockSpan> = Vec::new();
    // Per session: the spans still held, by (relation, mode).
    let mut open: BTreeMap<i32, BTreeMap<(i64, LockMode), LockSpan>> = BTreeMap::new();
    // Per session: the transaction it is in.
    let mut in_transaction: BTreeMap<i32, usize> = BTreeMap::new();
    let mut transactions = 0;

    for (i, r) in records.iter().enumerate() {
        let index = i + 1;
        let transaction = match (r.tx_before, in_transaction.get(&r.pid)) {
            ('T' | 'E', Some(t)) => *t,
            _ => {
                transactions += 1;
                in_transaction.insert(r.pid, transactions);
                transactions
            }
        };
        let (kind, objects) = statement_kind(&r.text);
        let (start_ms, end_ms) = (ms(started, r.started), ms(started, r.ended));
        let held = open.entry(r.pid).or_default();
        // Statements folded before it ran in the same transaction: plain row work.
        for span in held.values_mut() {
            span.later_statements += r.folded_before;
        }
        if !is_transaction_control(&kind) {
            for span in held.values_mut() {
                span.later_statements += 1;
            }
        }
        // Locks on relations neither snapshot names (TOAST tables, a relation made and
        // dropped within the migration) protect nothing the application can see.
        let locks: Vec<HeldLock> = r
            .locks
            .iter()
            .filter(|l| snapshots.relation(l.oid).is_some())
            .copied()
            .collect();
        for l in &locks {
            add_lock(held, l, (index, transaction), start_ms, r, &snapshots);
        }
        statements.push(TracedStatement {
            index,
            number: None,
            line: None,
            transaction,
            pid: r.pid,
            text: r.text.clone(),
            kind,
            objects,
            extended: r.extended,
            started_ms: start_ms,
            ended_ms: end_ms,
            rows: r.tag.as_deref().and_then(crate::pgwire::messages::tag_rows),
            tag: r.tag.clone(),
            sqlstate: r.sqlstate.clone(),
            tx_before: r.tx_before,
            tx_after: r.tx_after,
            lock_timeout: r.lock_timeout.clone(),
            folded_before: r.folded_before,
            locks: locks
                .iter()
                .map(|l| TracedLock {
                    relation: snapshots.name(l.oid),
                    oid: l.oid,
                    mode: l.mode,
                    relfilenode: l.relfilenode,
                })
                .collect(),
        });
        // The transaction ended: every lock it held is released now.
        if r.tx_after == 'I' {
            in_transaction.remove(&r.pid);
            for (_, span) in std::mem::take(held) {
                spans.push(close(span, end_ms));
            }
        }
    }
    let last_ms = statements.last().map(|s| s.ended_ms).unwrap_or(0.0);
    for (_, held) in open {
        for (_, span) in held {
            spans.push(close(span, last_ms));
        }
    }
    spans.sort_by(|a, b| {
        a.statement_index
            .cmp(&b.statement_index)
            .then(b.mode.cmp(&a.mode))
    });
    Timeline {
        statements,
        locks: spans,
        elided: None,
    }
}

/// Opens a span for a lock first seen after statement `index`, or notes a newer file
/// node on one already open.
fn add_lock(
    held: &mut BTreeMap<(i64, LockMode), LockSpan>,
    l: &HeldLock,
    (index, transaction): (usize, usize),
    start_ms: f64,
    r: &StatementRecord,
    snapshots: &Snapshots<'_>,
) {
    if let Some(span) = held.get_mut(&(l.oid, l.mode)) {
        span.relfilenode = l.relfilenode.or(span.relfilenode);
        return;
    }
    let table_oid = snapshots.table_of(l.oid);
    held.insert(
        (l.oid, l.mode),
        LockSpan {
            oid: l.oid,
            relation: snapshots.name(l.oid),
            table_oid,
            table: snapshots.name(table_oid),
            mode: l.mode,
            statement_index: index,
            transaction,
            acquired_ms: start_ms,
            released_ms: start_ms,
            held_ms: 0.0,
            preexisting: snapshots.before.relations.contains_key(&l.oid),
            lock_timeout: r.lock_timeout.clone(),
            later_statements: 0,
            relfilenode: l.relfilenode,
        },
    );
}

fn close(mut span: LockSpan, at_ms: f64) -> LockSpan {
    span.released_ms = at_ms.max(span.acquired_ms);
    span.held_ms = span.released_ms - span.acquired_ms;
    span
}

impl TracedStatement {
    /// A statement with its text and kind only (a recorded trace for the rules' tests).
    pub fn bare(index: usize, text: &str) -> TracedStatement {
        let (kind, objects) = statement_kind(text);
        TracedStatement {
            index,
            number: None,
            line: None,
            transaction: 1,
            pid: 1,
            text: text.into(),
            kind,
            objects,
            extended: false,
            started_ms: 0.0,
            ended_ms: 0.0,
            tag: None,
            rows: None,
            sqlstate: None,
            tx_before: 'T',
            tx_after: 'T',
            lock_timeout: None,
            locks: vec![],
            folded_before: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::catalog::Relation;
    use std::time::Duration;

    fn record(text: &str, at: u64, tx: (char, char), locks: Vec<HeldLock>) -> StatementRecord {
        let t0 = Instant::now();
        StatementRecord {
            pid: 7,
            text: text.into(),
            extended: false,
            started: t0 + Duration::from_millis(at),
            ended: t0 + Duration::from_millis(at + 1),
            tag: Some("X".into()),
            sqlstate: None,
            tx_before: tx.0,
            tx_after: tx.1,
            locks,
            lock_timeout: Some("0".into()),
            folded_before: 0,
        }
    }

    #[test]
    fn a_lock_is_held_from_its_statement_to_commit_and_counts_later_statements() {
        let t0 = Instant::now();
        let mut before = Catalog::default();
        before.relations.insert(
            100,
            Relation {
                schema: "public".into(),
                name: "orders".into(),
                kind: "r".into(),
                filenode: 100,
                table: None,
                bytes: 8192,
            },
        );
        let ael = HeldLock {
            oid: 100,
            mode: LockMode::AccessExclusive,
            relfilenode: Some(100),
        };
        let records = vec![
            record("BEGIN", 0, ('I', 'T'), vec![]),
            record(
                "ALTER TABLE orders ADD COLUMN x int",
                10,
                ('T', 'T'),
                vec![ael],
            ),
            record("UPDATE orders SET x = 1", 20, ('T', 'T'), vec![ael]),
            record("COMMIT", 50, ('T', 'I'), vec![]),
        ];
        let t = build(&records, t0, &before, &Catalog::default());
        assert_eq!(t.statements[1].kind, "ALTER TABLE");
        assert_eq!(t.locks.len(), 1);
        let span = &t.locks[0];
        assert_eq!(span.relation, "orders");
        assert_eq!(span.statement_index, 2);
        assert!(span.preexisting);
        assert_eq!(span.later_statements, 1);
        assert_eq!(span.transaction, 1);
        assert_eq!(t.statements[3].transaction, 1);
        assert!(span.held_ms >= 40.0, "{}", span.held_ms);
    }
}
