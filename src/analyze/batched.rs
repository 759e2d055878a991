//! Findings of a sampled batched background migration: PF-B02 (a batch over
//! `findings.batch_ms`), PF-B03 (a batch held a lock that blocks writes on a table) and
//! PF-B04 (the batch statement's plan reads its table sequentially).

use super::{Evidence, Finding, Thresholds};
use crate::model::batched::BatchedReport;

pub fn check(r: &BatchedReport, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    let slowest = r.samples.iter().map(|s| s.ms).fold(0.0, f64::max);
    if slowest > t.batch_ms {
        out.push(
            crate::analyze::finding(crate::model::RuleId::B02, &r.declared.table, None)
                .with(Evidence::new("slowest batch", slowest, "ms").against(t.batch_ms)),
        );
    }
    let mut blocking: Vec<(&str, crate::pg::lock_mode::LockMode)> = r
        .samples
        .iter()
        .flat_map(|s| &s.locks)
        .filter(|(_, mode)| mode.blocks_writes())
        .map(|(rel, mode)| (rel.as_str(), *mode))
        .collect();
    blocking.sort();
    blocking.dedup();
    for (relation, mode) in blocking {
        out.push(
            crate::analyze::finding(crate::model::RuleId::B03, relation, None).with(Evidence::new(
                mode.sql_name(),
                1.0,
                "lock",
            )),
        );
    }
    if r.seq_scan {
        out.push(crate::analyze::finding(
            crate::model::RuleId::B04,
            &r.declared.table,
            None,
        ));
    }
    out
}
