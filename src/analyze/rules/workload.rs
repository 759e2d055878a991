//! How long and how much: PF-D01/PF-D02 (the migration's wall time against the regular
//! or post-deploy guideline), PF-D03 (one slow data statement or concurrent index
//! build), PF-B01 (one statement changing many rows), PF-W01 (WAL written). Per
//! statement from the trace; from `pg_stat_statements` when there is no trace.

use super::super::sql::concurrently;
use super::super::{Evidence, Finding, Input};

const DATA: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"];
const CHANGES: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE"];

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let t = input.thresholds;
    let mut out = Vec::new();
    let (id, limit) = match input.post_deploy {
        true => ("PF-D02", t.post_deploy_migration_s),
        false => ("PF-D01", t.migration_s),
    };
    if input.wall_s > limit {
        out.push(
            Finding::new(id, "migration", None)
                .with(Evidence::new("wall time", input.wall_s, "s").against(limit)),
        );
    }
    for st in &input.trace.statements {
        let ms = st.ended_ms - st.started_ms;
        let object = st.objects.first().cloned().unwrap_or_default();
        let kind = st.kind.as_str();
        let limit_ms = match kind {
            _ if DATA.contains(&kind) => Some(t.statement_ms),
            "CREATE INDEX" if concurrently(&st.text) => Some(t.concurrent_index_s * 1000.0),
            _ => None,
        };
        if let Some(limit_ms) = limit_ms.filter(|l| ms > *l) {
            out.push(
                Finding::new("PF-D03", &object, Some(st))
                    .with(Evidence::new("statement time", ms, "ms").against(limit_ms)),
            );
        }
        if let Some(rows) = st
            .rows
            .filter(|r| CHANGES.contains(&kind) && *r as f64 > t.rows)
        {
            out.push(
                Finding::new("PF-B01", &object, Some(st))
                    .with(Evidence::new("rows changed", rows as f64, "rows").against(t.rows)),
            );
        }
    }
    if input.trace.statements.is_empty() {
        for s in input.stats.iter().filter(|s| s.classified.is_dml) {
            let object = s.classified.objects.first().cloned().unwrap_or_default();
            if s.max_ms > t.statement_ms {
                out.push(
                    Finding::new("PF-D03", &object, None).with(
                        Evidence::new("statement time", s.max_ms, "ms").against(t.statement_ms),
                    ),
                );
            }
            let per_call = s.rows as f64 / s.calls.max(1) as f64;
            if CHANGES.contains(&s.classified.kind.as_str()) && per_call > t.rows {
                out.push(
                    Finding::new("PF-B01", &object, None)
                        .with(Evidence::new("rows changed", per_call, "rows").against(t.rows)),
                );
            }
        }
    }
    let lag = t.replica_lag_s(input.wal_bytes);
    if input.wal_bytes as f64 > t.wal_bytes || lag > t.replica_lag_s {
        out.push(
            Finding::new("PF-W01", "migration", None)
                .with(
                    Evidence::new("WAL written", input.wal_bytes as f64, "bytes")
                        .against(t.wal_bytes),
                )
                .with(Evidence::new("replicas behind", lag, "s").against(t.replica_lag_s)),
        );
    }
    out
}
