//! How much of a migration's trace the report keeps. Every statement is traced and every
//! rule sees all of them; what the full report and report.json list is capped per
//! migration, so that a migration of 300,000 statements costs the job and its artifacts
//! no more than one of a few thousand. The statements kept are, in this order: the ones a
//! finding points at, the ones that are not plain row work (schema changes, failures,
//! statements slower than the slow-statement mark), then the first ones in file order.
//! The rest are counted ([`Elided`]: how many, their time and rows, by command), and the
//! report says so. Lock spans are capped the same way: the longest holds on tables that
//! existed before are kept.

use super::timeline::{is_transaction_control, Elided, Timeline, TracedStatement};
use super::StatementRecord;
use crate::pgwire::messages::tag_rows;
use std::collections::{BTreeMap, BTreeSet};

/// Statements and lock spans a migration's report lists at most.
pub const DETAIL_CAP: usize = 2_000;

/// What the bridge keeps of a migration's statements: the first `cap` records whole,
/// then only what is not plain row work ([`Fold`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detail {
    pub cap: usize,
    /// The slow-statement mark (`findings.statement_ms`): a slower statement is kept.
    pub slow_ms: f64,
    /// The many-rows mark (`findings.rows`): a statement changing more is kept.
    pub rows: f64,
}

/// The commands whose plain runs can be folded: row work and session settings.
const FOLDABLE: &[&str] = &[
    "INSERT", "UPDATE", "DELETE", "SELECT", "COPY", "SET", "SHOW",
];

/// The bridge's side of the cap: it admits each statement record of a migration in
/// turn, keeps the first [`Detail::cap`] and, past them, every one a rule could act on
/// (a failure, a lock, a transaction starting or ending, a slow or big one, one naming a
/// system catalog, anything but row work), and counts the rest.
#[derive(Debug, Default)]
pub struct Fold {
    detail: Option<Detail>,
    kept: usize,
    /// Per session: records folded since its last kept one.
    since: BTreeMap<i32, usize>,
    pub elided: Elided,
}

impl Fold {
    pub fn new(detail: Detail) -> Fold {
        Fold {
            detail: Some(detail),
            ..Fold::default()
        }
    }

    /// Answers `r` to keep, with how many of its session's records were folded before
    /// it, or none when it was folded into the count.
    pub fn admit(&mut self, mut r: StatementRecord) -> Option<StatementRecord> {
        if let Some(d) = self.detail.filter(|d| self.kept >= d.cap) {
            if foldable(&r, &d) {
                let ms = r.ended.saturating_duration_since(r.started).as_secs_f64() * 1000.0;
                self.elided.statements += 1;
                self.elided.ms += ms;
                self.elided.rows += r.tag.as_deref().and_then(tag_rows).unwrap_or(0);
                *self.elided.kinds.entry(first_word(&r.text)).or_default() += 1;
                *self.since.entry(r.pid).or_default() += 1;
                return None;
            }
        }
        self.kept += 1;
        r.folded_before = self.since.remove(&r.pid).unwrap_or(0);
        Some(r)
    }
}

/// The statement's first word, upper-cased (`INSERT`).
fn first_word(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// Plain row work no rule acts on alone: it succeeded within its transaction (which it
/// neither began nor ended), held no lock the trace saw, was quick, changed few rows,
/// and names no system catalog (`pg_`).
fn foldable(r: &StatementRecord, d: &Detail) -> bool {
    let ms = r.ended.saturating_duration_since(r.started).as_secs_f64() * 1000.0;
    let rows = r.tag.as_deref().and_then(tag_rows).unwrap_or(0);
    r.sqlstate.is_none()
        && r.tag.is_some()
        && r.locks.is_empty()
        && r.tx_before == r.tx_after
        && r.tx_before != 'E'
        && ms < d.slow_ms
        && (rows as f64) <= d.rows
        && FOLDABLE.contains(&first_word(&r.text).as_str())
        && !r.text.to_ascii_lowercase().contains("pg_")
}

/// Plain row work: a data statement that succeeded and was quicker than `slow_ms`.
fn plain(s: &TracedStatement, slow_ms: f64) -> bool {
    let data = matches!(
        s.kind.as_str(),
        "INSERT" | "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY"
    ) || is_transaction_control(&s.kind);
    data && s.sqlstate.is_none() && s.ended_ms - s.started_ms < slow_ms
}

impl Timeline {
    /// Keeps at most `cap` statements (more only when findings point at more) and `cap`
    /// lock spans; `referenced` are the trace positions findings point at, `slow_ms` the
    /// slow-statement mark. Answers nothing when everything fits.
    pub fn keep_detail(&mut self, referenced: &BTreeSet<usize>, slow_ms: f64, cap: usize) {
        let mut elided = self.elided.take().unwrap_or_default();
        if self.statements.len() > cap {
            let mut keep: BTreeSet<usize> = referenced.clone();
            let notable = self
                .statements
                .iter()
                .filter(|s| !plain(s, slow_ms))
                .map(|s| s.index);
            let in_order = self.statements.iter().map(|s| s.index);
            for index in notable.chain(in_order) {
                if keep.len() >= cap {
                    break;
                }
                keep.insert(index);
            }
            let statements = std::mem::take(&mut self.statements);
            for s in statements {
                if keep.contains(&s.index) {
                    self.statements.push(s);
                } else {
                    elided.statements += 1;
                    elided.ms += s.ended_ms - s.started_ms;
                    elided.rows += s.rows.unwrap_or(0);
                    *elided.kinds.entry(s.kind).or_default() += 1;
                }
            }
        }
        if self.locks.len() > cap {
            let mut by_weight: Vec<usize> = (0..self.locks.len()).collect();
            by_weight.sort_by(|a, b| {
                let (a, b) = (&self.locks[*a], &self.locks[*b]);
                b.preexisting
                    .cmp(&a.preexisting)
                    .then(b.held_ms.total_cmp(&a.held_ms))
            });
            let keep: BTreeSet<usize> = by_weight.into_iter().take(cap).collect();
            elided.lock_spans = self.locks.len() - keep.len();
            let mut i = 0;
            self.locks.retain(|_| {
                i += 1;
                keep.contains(&(i - 1))
            });
        }
        self.elided = (elided != Elided::default()).then_some(elided);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(texts: &[&str]) -> Timeline {
        Timeline {
            statements: texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut s = TracedStatement::bare(i + 1, t);
                    s.ended_ms = 1.0;
                    s.rows = Some(1);
                    s
                })
                .collect(),
            ..Timeline::default()
        }
    }

    #[test]
    fn a_trace_under_the_cap_is_kept_whole() {
        let mut t = timeline(&["INSERT INTO t VALUES (1)"; 5]);
        t.keep_detail(&BTreeSet::new(), 100.0, 5);
        assert_eq!(t.statements.len(), 5);
        assert_eq!(t.elided, None);
    }

    #[test]
    fn past_the_cap_findings_then_schema_changes_then_the_first_statements_are_kept() {
        let mut texts = vec!["INSERT INTO t VALUES (1)"; 10];
        texts[6] = "ALTER TABLE t ADD COLUMN b int";
        let mut t = timeline(&texts);
        t.statements[8].ended_ms = 500.0; // slow
        t.keep_detail(&BTreeSet::from([10]), 100.0, 4);
        let kept: Vec<usize> = t.statements.iter().map(|s| s.index).collect();
        assert_eq!(kept, vec![1, 7, 9, 10]);
        let e = t.elided.unwrap();
        assert_eq!(e.statements, 6);
        assert_eq!(e.rows, 6);
        assert_eq!(e.ms, 6.0);
        assert_eq!(e.kinds, BTreeMap::from([("INSERT".to_string(), 6)]));
    }

    fn record(text: &str, tag: &str, tx: (char, char), ms: u64) -> StatementRecord {
        let t0 = std::time::Instant::now();
        StatementRecord {
            pid: 7,
            text: text.into(),
            extended: false,
            started: t0,
            ended: t0 + std::time::Duration::from_millis(ms),
            tag: Some(tag.into()),
            sqlstate: None,
            tx_before: tx.0,
            tx_after: tx.1,
            locks: vec![],
            lock_timeout: None,
            folded_before: 0,
        }
    }

    #[test]
    fn past_the_cap_the_bridge_counts_plain_row_work_and_keeps_what_a_rule_acts_on() {
        let mut fold = Fold::new(Detail {
            cap: 1,
            slow_ms: 100.0,
            rows: 1000.0,
        });
        let insert = || record("INSERT INTO t VALUES (1)", "INSERT 0 1", ('T', 'T'), 1);
        assert!(fold.admit(insert()).is_some(), "the first is kept");
        assert!(fold.admit(insert()).is_none());
        assert!(fold.admit(insert()).is_none());
        let kept = [
            record("ALTER TABLE t ADD b int", "ALTER TABLE", ('T', 'T'), 1),
            record("INSERT INTO t VALUES (1)", "INSERT 0 1", ('T', 'T'), 500),
            record("UPDATE t SET b = 1", "UPDATE 5000", ('T', 'T'), 1),
            record(
                "INSERT INTO pg_catalog.pg_class VALUES (1)",
                "INSERT 0 1",
                ('T', 'T'),
                1,
            ),
            record("COMMIT", "COMMIT", ('T', 'I'), 1),
        ];
        let kept: Vec<StatementRecord> = kept.into_iter().filter_map(|r| fold.admit(r)).collect();
        assert_eq!(
            kept.len(),
            5,
            "a schema change, a slow and a big statement, a catalog write and the commit are kept"
        );
        assert_eq!(kept[0].folded_before, 2);
        assert_eq!(kept[1].folded_before, 0);
        let mut failed = insert();
        failed.sqlstate = Some("23505".into());
        failed.tag = None;
        assert!(fold.admit(failed).is_some(), "a failure is kept");
        assert_eq!(fold.elided.statements, 2);
        assert_eq!(fold.elided.rows, 2);
        assert_eq!(
            fold.elided.kinds,
            BTreeMap::from([("INSERT".to_string(), 2)])
        );
    }
}
