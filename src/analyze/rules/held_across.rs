//! PF-L02: a lock that blocks the application stayed held while further statements of
//! its transaction ran: one cause per transaction, from the first statement that took
//! such a lock, listing the tables it kept blocked.

use super::super::{Evidence, Finding, Input};
use super::{blocking_by_transaction, lock_cause, At};
use crate::model::RuleId;
use crate::trace::timeline::LockSpan;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for spans in blocking_by_transaction(input) {
        let across: Vec<&LockSpan> = spans
            .into_iter()
            .filter(|s| s.later_statements > 0)
            .collect();
        let most = across.iter().map(|s| s.later_statements).max();
        if let (Some(f), Some(most)) = (
            lock_cause(input, RuleId::L02, &across, None, At::First),
            most,
        ) {
            out.push(f.with(Evidence::new(
                "statements run while held",
                most as f64,
                "statements",
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
    fn a_lock_held_across_later_statements_is_one_cause() {
        let r = Recorded::new()
            .table(1, "orders", 8192)
            .statement("ALTER TABLE orders ADD COLUMN x int", 1, 0.0, 1.0)
            .statement("UPDATE orders SET x = 1", 1, 1.0, 5.0)
            .statement("CREATE INDEX orders_x ON orders (x)", 1, 5.0, 9.0)
            .lock(1, AccessExclusive, 1, 0.0, 10.0)
            .lock(1, Share, 3, 5.0, 10.0)
            .statement("ALTER TABLE orders ADD COLUMN y int", 2, 10.0, 11.0)
            .lock(1, AccessExclusive, 4, 10.0, 11.0);
        let f = r.judge(super::check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].statement.as_ref().unwrap().number, Some(1));
        assert_eq!(f[0].evidence.last().unwrap().value, 2.0);
    }
}
