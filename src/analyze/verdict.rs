//! One migration's verdict from its trace: the table that existed before and was
//! blocked longest (reads and writes count double: an ACCESS EXCLUSIVE stops both),
//! how long, and the statements that ran while it was blocked, longest first. Without
//! a trace, the lock sampler's holds stand in.

use crate::model::verdict::{Blocking, Contributor};
use crate::model::Verdict;
use crate::observe::locks::LockHold;
use crate::trace::blocking::{merged, union_ms};
use crate::trace::timeline::{is_transaction_control, Timeline};
use std::collections::BTreeMap;

/// How many statements the verdict names.
const DURING: usize = 3;

/// Per table: the intervals its reads and its writes were blocked.
#[derive(Default)]
struct Blocked {
    reads: Vec<(f64, f64)>,
    writes: Vec<(f64, f64)>,
}

impl Blocked {
    /// How long reads were blocked plus how long writes were (a blocked read counts as
    /// much again as a blocked write, as [`crate::model::Impact::weight`] does).
    fn weight(&self) -> f64 {
        union_ms(self.reads.clone()) + union_ms(self.writes.clone())
    }
}

/// The verdict of a migration from its trace (or, without one, its sampled locks).
pub fn verdict(trace: &Timeline, sampled: &[LockHold]) -> Verdict {
    let mut tables: BTreeMap<String, Blocked> = BTreeMap::new();
    let mut add = |table: &str, reads: bool, writes: bool, from: f64, to: f64| {
        let b = tables.entry(table.to_string()).or_default();
        if reads {
            b.reads.push((from, to));
        }
        if writes {
            b.writes.push((from, to));
        }
    };
    if trace.locks.is_empty() {
        for h in sampled.iter().filter(|h| h.preexisting) {
            let to = h.first_seen_ms + h.held_ms;
            add(
                &h.relation,
                h.mode.blocks_reads(),
                h.mode.blocks_writes(),
                h.first_seen_ms,
                to,
            );
        }
    } else {
        for s in trace.locks.iter().filter(|s| s.preexisting) {
            add(
                &s.table,
                s.mode.blocks_reads(),
                s.mode.blocks_writes(),
                s.acquired_ms,
                s.released_ms,
            );
        }
    }
    // Each table's weight, computed once.
    let weighed: Vec<(String, Blocked, f64)> = tables
        .into_iter()
        .map(|(t, b)| {
            let w = b.weight();
            (t, b, w)
        })
        .filter(|(_, _, w)| *w > 0.0)
        .collect();
    let blocked_tables = weighed.len();
    let worst = weighed.into_iter().max_by(|a, b| a.2.total_cmp(&b.2));
    let blocking = worst.map(|(table, b, _)| {
        let reads = !b.reads.is_empty();
        let intervals = merged(if reads { b.reads } else { b.writes });
        let held_ms = intervals.iter().map(|(a, b)| b - a).sum();
        let mut during: Vec<Contributor> = trace
            .statements
            .iter()
            .filter(|s| !is_transaction_control(&s.kind))
            .filter_map(|s| {
                // The part of the statement's run that fell in the blocked time.
                let ms: f64 = intervals
                    .iter()
                    .map(|(a, b)| (s.ended_ms.min(*b) - s.started_ms.max(*a)).max(0.0))
                    .sum();
                (ms > 0.0).then(|| Contributor {
                    kind: s.kind.clone(),
                    object: s.objects.first().cloned(),
                    number: s.number,
                    ms,
                })
            })
            .collect();
        during.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        during.truncate(DURING);
        Blocking {
            table,
            reads,
            held_ms,
            during,
            other_tables: blocked_tables - 1,
        }
    });
    Verdict { blocking }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::rules::recorded::Recorded;
    use crate::pg::lock_mode::LockMode::*;

    #[test]
    fn the_verdict_names_the_longest_blocked_table_and_what_ran_meanwhile() {
        let r = Recorded::new()
            .table(1, "comment", 8192)
            .table(2, "person", 8192)
            .statement("ALTER TABLE comment ADD COLUMN x int", 1, 0.0, 10.0)
            .statement("REINDEX TABLE comment", 1, 10.0, 45_010.0)
            .statement("UPDATE person SET x = 1", 1, 45_010.0, 98_000.0)
            .lock(1, AccessExclusive, 1, 0.0, 98_000.0)
            .lock(2, Share, 3, 45_010.0, 98_000.0);
        let v = verdict(&r.trace, &[]);
        let b = v.blocking.unwrap();
        assert_eq!(
            (b.table.as_str(), b.reads, b.held_ms),
            ("comment", true, 98_000.0)
        );
        let during: Vec<(&str, Option<usize>)> = b
            .during
            .iter()
            .map(|c| (c.kind.as_str(), c.number))
            .collect();
        assert_eq!(
            during,
            [
                ("UPDATE", Some(3)),
                ("REINDEX", Some(2)),
                ("ALTER TABLE", Some(1))
            ]
        );
        assert_eq!(b.other_tables, 1);
        assert_eq!(verdict(&Default::default(), &[]).blocking, None);
    }
}
