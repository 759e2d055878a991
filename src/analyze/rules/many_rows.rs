//! PF-B01: one statement changed more rows than `findings.rows` (the table it writes is
//! the object). Per statement from the trace; per call from `pg_stat_statements` when
//! there is no trace.

use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

const CHANGES: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE", "CREATE TABLE AS"];

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let t = input.thresholds;
    let mut out = Vec::new();
    for st in &input.trace.statements {
        let Some(rows) = st
            .rows
            .filter(|r| CHANGES.contains(&st.kind.as_str()) && *r as f64 > t.rows)
        else {
            continue;
        };
        let object = st.objects.first().cloned().unwrap_or_default();
        out.push(
            finding(RuleId::B01, object, Some(st))
                .with(Evidence::new("rows changed", rows as f64, "rows").against(t.rows)),
        );
    }
    if input.trace.statements.is_empty() {
        for s in input.stats.iter().filter(|s| s.classified.is_dml) {
            let per_call = s.rows as f64 / s.calls.max(1) as f64;
            if CHANGES.contains(&s.classified.kind.as_str()) && per_call > t.rows {
                let object = s.classified.objects.first().cloned().unwrap_or_default();
                out.push(
                    finding(RuleId::B01, object, None)
                        .with(Evidence::new("rows changed", per_call, "rows").against(t.rows)),
                );
            }
        }
    }
    out
}
