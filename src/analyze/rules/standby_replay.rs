//! PF-W02: ACCESS EXCLUSIVE held on a table that existed before for longer than hot
//! standbys wait for a conflicting lock (`findings.standby_delay_ms`, production's
//! `max_standby_streaming_delay`, 30 s by default). The lock is WAL-logged and replayed
//! on every standby: reads of the table there wait behind it, and past the delay the
//! standby cancels them. One cause per migration, listing the tables.

use super::super::{Finding, Input, LockEvidence};
use crate::model::RuleId;
use crate::pg::lock_mode::LockMode;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let limit = input.thresholds.standby_delay_ms;
    let mut long: Vec<_> = input
        .blocking_spans()
        .filter(|s| s.mode == LockMode::AccessExclusive && s.held_ms > limit)
        .collect();
    long.sort_by(|a, b| b.held_ms.total_cmp(&a.held_ms));
    let Some(first) = long.first() else {
        return Vec::new();
    };
    let mut f = super::super::finding(
        RuleId::W02,
        &first.table,
        input.statement(first.statement_index),
    );
    for s in &long {
        f = f.also(&s.table).held(s, Some(limit));
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::pg::lock_mode::LockMode::*;

    #[test]
    fn a_lock_longer_than_standbys_wait_is_raised_once() {
        let r = Recorded::new()
            .table(1, "comment", 8192)
            .table(2, "post", 8192)
            .statement("REINDEX TABLE comment", 1, 0.0, 45_000.0)
            .statement("ALTER TABLE post ADD COLUMN x int", 2, 45_000.0, 45_001.0)
            .lock(1, AccessExclusive, 1, 0.0, 98_000.0)
            .lock(2, AccessExclusive, 2, 45_000.0, 45_001.0);
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "comment");
        assert!(f[0].also.is_empty());
    }
}
