//! PF-D03: one data statement slower than `findings.statement_ms` (a `CREATE TABLE AS`
//! or `SELECT INTO` counts: it reads like a query), or one concurrent index build slower
//! than `findings.concurrent_index_s`. Per statement from the trace; from
//! `pg_stat_statements` when there is no trace. The object is the table it writes.

use super::super::sql::concurrently;
use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

/// Statement kinds judged against `findings.statement_ms`.
pub(super) const DATA: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "CREATE TABLE AS",
];

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let t = input.thresholds;
    let mut out = Vec::new();
    for st in &input.trace.statements {
        let ms = st.ended_ms - st.started_ms;
        let kind = st.kind.as_str();
        let limit_ms = match kind {
            _ if DATA.contains(&kind) => Some(t.statement_ms),
            "CREATE INDEX" if concurrently(&st.text) => Some(t.concurrent_index_s * 1000.0),
            _ => None,
        };
        if let Some(limit_ms) = limit_ms.filter(|l| ms > *l) {
            let object = st.objects.first().cloned().unwrap_or_default();
            out.push(
                finding(RuleId::D03, object, Some(st))
                    .with(Evidence::new("statement time", ms, "ms").against(limit_ms)),
            );
        }
    }
    if input.trace.statements.is_empty() {
        for s in input.stats.iter().filter(|s| s.classified.is_dml) {
            if s.max_ms > t.statement_ms {
                let object = s.classified.objects.first().cloned().unwrap_or_default();
                out.push(
                    finding(RuleId::D03, object, None).with(
                        Evidence::new("statement time", s.max_ms, "ms").against(t.statement_ms),
                    ),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::recorded::Recorded;

    #[test]
    fn a_slow_create_table_as_names_the_table_it_makes() {
        let r = Recorded::new()
            .statement(
                "CREATE TABLE pa AS SELECT * FROM person p JOIN post USING (id)",
                1,
                0.0,
                440.0,
            )
            .statement(
                "UPDATE person SET n = a.n FROM person_aggregates a WHERE a.id = person.id",
                2,
                440.0,
                900.0,
            );
        let f = r.judge(super::check);
        let objects: Vec<&str> = f.iter().map(|f| f.object.as_str()).collect();
        assert_eq!(objects, ["pa", "person"]);
    }
}
