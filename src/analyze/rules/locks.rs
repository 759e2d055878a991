//! PF-L01 (no lock_timeout), PF-L02 (held while more statements run), PF-L03 (held too
//! long): from the trace's lock spans, one finding per statement and table, with the
//! sampler's holds for what the trace could not see.

use super::super::{Evidence, Finding, Input};
use crate::pg::settings::is_zero_timeout;
use crate::trace::timeline::LockSpan;
use std::collections::BTreeMap;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    // The strongest, longest lock each statement took on each table.
    let mut groups: BTreeMap<(usize, i64), &LockSpan> = BTreeMap::new();
    for s in input.blocking_spans() {
        let e = groups.entry((s.statement_index, s.table_oid)).or_insert(s);
        if (s.mode, s.held_ms) > (e.mode, e.held_ms) {
            *e = s;
        }
    }
    let threshold = input.thresholds.lock_hold_ms;
    for ((index, _), span) in &groups {
        let statement = input.statement(*index);
        let finding = |id| Finding::new(id, &span.table, statement);
        let timeout = span
            .lock_timeout
            .as_deref()
            .unwrap_or(input.default_lock_timeout);
        if is_zero_timeout(timeout) {
            out.push(finding("PF-L01").held(span, None).with(Evidence::new(
                "lock_timeout",
                0.0,
                "ms",
            )));
        }
        if !span.later_statements.is_empty() {
            out.push(finding("PF-L02").held(span, None).with(Evidence::new(
                "statements run while held",
                span.later_statements.len() as f64,
                "statements",
            )));
        }
        if span.held_ms > threshold {
            out.push(finding("PF-L03").held(span, Some(threshold)));
        }
    }
    // Holds only the sampler saw (a lock taken inside a function, a wait).
    for hold in input.sampled {
        let traced = input
            .trace
            .locks
            .iter()
            .any(|s| s.relation == hold.relation);
        if hold.preexisting && hold.mode.blocks_writes() && hold.held_ms > threshold && !traced {
            out.push(
                Finding::new("PF-L03", &hold.relation, None).with(
                    Evidence::new(
                        format!("{} held (sampled)", hold.mode.sql_name()),
                        hold.held_ms,
                        "ms",
                    )
                    .against(threshold),
                ),
            );
        }
    }
    out
}
