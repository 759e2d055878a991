//! PF-L01: a lock that blocks the application taken with no `lock_timeout`, once per
//! transaction, listing the tables it locked. A `VACUUM FULL`, `CLUSTER` or `REINDEX`
//! (which runs outside the trace's reach when it commits on its own) counts too when it
//! acts on a relation that existed before.

use super::super::{finding, Evidence, Finding, Input};
use super::{blocking_by_transaction, lock_cause, At};
use crate::model::RuleId;
use crate::pg::settings::is_zero_timeout;
use crate::trace::timeline::{LockSpan, TracedStatement};

fn unprotected(input: &Input<'_>, timeout: Option<&str>) -> bool {
    is_zero_timeout(timeout.unwrap_or(input.default_lock_timeout))
}

/// A maintenance statement that rewrites under ACCESS EXCLUSIVE.
fn rewrites_under_lock(st: &TracedStatement) -> bool {
    match st.kind.as_str() {
        "VACUUM" => super::super::sql::is_vacuum_full(&st.text),
        "CLUSTER" => true,
        "REINDEX" => !super::super::sql::concurrently(&st.text),
        _ => false,
    }
}

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for spans in blocking_by_transaction(input) {
        let bare: Vec<&LockSpan> = spans
            .into_iter()
            .filter(|s| unprotected(input, s.lock_timeout.as_deref()))
            .collect();
        if let Some(f) = lock_cause(input, RuleId::L01, &bare, None, At::First) {
            out.push(f.with(Evidence::new("lock_timeout", 0.0, "ms")));
        }
    }
    let traced = |name: &str| input.trace.locks.iter().any(|s| s.table == name);
    for st in &input.trace.statements {
        if !rewrites_under_lock(st) || !unprotected(input, st.lock_timeout.as_deref()) {
            continue;
        }
        let Some(object) = st.objects.first() else {
            continue;
        };
        let existed = input.before.relations.values().any(|r| &r.name == object);
        if existed && !traced(object) {
            out.push(finding(RuleId::L01, object, Some(st)).with(Evidence::new(
                "lock_timeout",
                0.0,
                "ms",
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;
    use crate::pg::lock_mode::LockMode::*;

    #[test]
    fn one_cause_per_transaction_listing_its_tables() {
        // diesel's way: one transaction, a rename on each of three tables.
        let r = Recorded::new()
            .table(1, "post", 8192)
            .table(2, "comment", 8192)
            .table(3, "person", 8192)
            .statement(
                "ALTER TABLE post RENAME COLUMN published TO published_at",
                1,
                0.0,
                1.0,
            )
            .statement(
                "ALTER TABLE comment RENAME COLUMN published TO published_at",
                1,
                1.0,
                2.0,
            )
            .statement(
                "ALTER TABLE person RENAME COLUMN published TO published_at",
                1,
                2.0,
                3.0,
            )
            .lock(1, AccessExclusive, 1, 0.0, 10.0)
            .lock(2, AccessExclusive, 2, 1.0, 10.0)
            .lock(3, AccessExclusive, 3, 2.0, 10.0)
            .statement("VACUUM FULL person", 2, 10.0, 20.0);
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object, "post");
        assert_eq!(f[0].also, ["comment", "person"]);
        assert_eq!(f[0].statement.as_ref().unwrap().number, Some(1));
        assert_eq!(f[0].impact.reads_blocked_ms, 10.0);
    }

    #[test]
    fn an_unprotected_vacuum_full_outside_the_trace_is_a_cause() {
        let r = Recorded::new()
            .table(1, "events", 8192)
            .statement("VACUUM FULL events", 1, 0.0, 5.0)
            .statement("VACUUM events", 2, 5.0, 6.0);
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].statement.as_ref().unwrap().number, Some(1));
    }
}
