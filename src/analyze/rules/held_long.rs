//! PF-L03: a lock that blocks the application held longer than `findings.lock_hold_ms`:
//! one cause per transaction listing each table and how long it was blocked, plus the
//! holds only the lock sampler saw (a lock taken inside a function, a wait).

use super::super::{finding, Evidence, Finding, Impact, Input};
use super::{blocking_by_transaction, lock_cause, At};
use crate::model::RuleId;
use crate::trace::timeline::LockSpan;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let threshold = input.thresholds.lock_hold_ms;
    let mut out = Vec::new();
    for spans in blocking_by_transaction(input) {
        let long: Vec<&LockSpan> = spans
            .into_iter()
            .filter(|s| s.held_ms > threshold)
            .collect();
        out.extend(lock_cause(
            input,
            RuleId::L03,
            &long,
            Some(threshold),
            At::Worst,
        ));
    }
    for hold in input.sampled {
        let traced = input
            .trace
            .locks
            .iter()
            .any(|s| s.relation == hold.relation);
        if hold.preexisting && hold.mode.blocks_writes() && hold.held_ms > threshold && !traced {
            let e = Evidence::new(
                format!("{} held (sampled)", hold.mode.sql_name()),
                hold.held_ms,
                "ms",
            );
            out.push(
                finding(RuleId::L03, &hold.relation, None)
                    .with(e.against(threshold))
                    .impact(Impact {
                        reads_blocked_ms: if hold.mode.blocks_reads() {
                            hold.held_ms
                        } else {
                            0.0
                        },
                        writes_blocked_ms: hold.held_ms,
                    }),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::pg::lock_mode::LockMode::*;

    #[test]
    fn the_longest_blocked_table_leads_and_short_holds_are_left_out() {
        let r = Recorded::new()
            .table(1, "person", 8192)
            .table(2, "comment", 8192)
            .table(3, "instance", 8192)
            .statement("DROP TABLE x", 1, 0.0, 1.0)
            .statement("REINDEX TABLE comment", 1, 1.0, 3000.0)
            .lock(1, AccessExclusive, 1, 0.0, 3000.0)
            .lock(2, AccessExclusive, 2, 1.0, 5000.0)
            .lock(3, AccessShare, 1, 0.0, 5000.0);
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object, "comment");
        assert_eq!(f[0].also, ["person"]);
        assert_eq!(f[0].impact.reads_blocked_ms, 4999.0);
        assert!(f[0].evidence.iter().all(|e| e.threshold == Some(1000.0)));
    }
}
