//! Declared queries' plans before and after the migrations, compared: PF-Q01 (a new
//! sequential scan reading at least `findings.plan_seq_scan_rows` rows), PF-Q02 (time or
//! buffers up by more than `findings.plan_factor`), PF-Q03 (a row estimate off by more
//! than `findings.plan_misestimate` where the plan before was not) and PF-Q04 (the query
//! fails after, where it ran before). Small figures are left alone: a query under
//! [`MIN_MS`] or [`MIN_BUFFERS`] after cannot regress by time or buffers.

use super::{Evidence, Finding, Thresholds};
pub use crate::model::observed::Verdict;
use crate::observe::plans::{Plan, PlanNode};

/// A query this fast after the migrations has not regressed by time.
pub const MIN_MS: f64 = 1.0;
/// A query reading this few buffers after has not regressed by buffers.
pub const MIN_BUFFERS: f64 = 100.0;
/// Estimates are compared only for nodes returning or expecting at least this many rows.
const MIN_ROWS: f64 = 1000.0;

impl Verdict {
    /// Its name in the note (a closed vocabulary of the leak gate).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Broke => "broke",
            Verdict::NotPlanned => "not_planned",
        }
    }
}

fn seq_scanned(p: &Plan) -> impl Iterator<Item = &PlanNode> {
    p.nodes
        .iter()
        .filter(|n| n.node_type == "Seq Scan" && n.relation.is_some())
}

fn misestimated(p: &Plan, factor: f64) -> impl Iterator<Item = &PlanNode> {
    p.nodes.iter().filter(move |n| {
        let (a, e) = (n.rows.max(1.0), n.estimated.max(1.0));
        a.max(e) >= MIN_ROWS && a.max(e) / a.min(e) > factor
    })
}

/// Compares two plans of declared query `index` (a `kind` statement): its findings
/// and its verdict.
pub fn compare(
    index: usize,
    kind: &str,
    before: Result<&Plan, ()>,
    after: Result<&Plan, Option<&str>>,
    t: &Thresholds,
) -> (Vec<Finding>, Verdict) {
    let at = |mut f: Finding| {
        f.statement = Some(crate::model::StatementRef {
            number: Some(index),
            line: None,
            kind: kind.to_string(),
            trace_index: index,
        });
        f
    };
    let Ok(before) = before else {
        return (Vec::new(), Verdict::NotPlanned);
    };
    let after = match after {
        Ok(p) => p,
        Err(sqlstate) => {
            let mut f = at(crate::analyze::finding(
                crate::model::RuleId::Q04,
                "query",
                None,
            ));
            if let (Some(code), Some(st)) = (sqlstate, f.statement.as_mut()) {
                st.kind = format!("{kind}, SQLSTATE {code}");
            }
            return (vec![f], Verdict::Broke);
        }
    };
    let mut out = Vec::new();
    for n in seq_scanned(after) {
        let relation = n.relation.as_deref().unwrap_or_default();
        let before_too = seq_scanned(before).any(|b| b.relation.as_deref() == Some(relation));
        if !before_too && n.scanned >= t.plan_seq_scan_rows {
            out.push(at(crate::analyze::finding(
                crate::model::RuleId::Q01,
                relation,
                None,
            )
            .with(
                Evidence::new("rows scanned", n.scanned, "rows").against(t.plan_seq_scan_rows),
            )));
        }
    }
    let time = after.execution_ms / before.execution_ms.max(0.001);
    let buffers = after.buffers as f64 / (before.buffers as f64).max(1.0);
    let slower = after.execution_ms >= MIN_MS && time > t.plan_factor;
    let heavier = after.buffers as f64 >= MIN_BUFFERS && buffers > t.plan_factor;
    if slower || heavier {
        out.push(at(crate::analyze::finding(
            crate::model::RuleId::Q02,
            "query",
            None,
        )
        .with(Evidence::new("time before", before.execution_ms, "ms"))
        .with(Evidence::new("time after", after.execution_ms, "ms"))
        .with(Evidence::new(
            "buffers before",
            before.buffers as f64,
            "buffers",
        ))
        .with(Evidence::new(
            "buffers after",
            after.buffers as f64,
            "buffers",
        ))
        .with(
            Evidence::new("factor", time.max(buffers), "times").against(t.plan_factor),
        )));
    }
    if misestimated(before, t.plan_misestimate).next().is_none() {
        if let Some(n) = misestimated(after, t.plan_misestimate).next() {
            let object = n.relation.clone().unwrap_or_else(|| "query".into());
            out.push(at(crate::analyze::finding(
                crate::model::RuleId::Q03,
                object,
                None,
            )
            .with(Evidence::new("rows estimated", n.estimated, "rows"))
            .with(Evidence::new("rows returned", n.rows, "rows"))));
        }
    }
    let verdict = if !out.is_empty() {
        Verdict::Regressed
    } else if after.execution_ms * t.plan_factor < before.execution_ms
        && before.execution_ms >= MIN_MS
        && after.buffers <= before.buffers
    {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    (out, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(ms: f64, buffers: i64, nodes: &[(&str, Option<&str>, f64, f64)]) -> Plan {
        Plan {
            nodes: nodes
                .iter()
                .map(|(t, rel, rows, est)| PlanNode {
                    node_type: t.to_string(),
                    relation: rel.map(str::to_string),
                    index: None,
                    rows: *rows,
                    estimated: *est,
                    scanned: *rows * 10.0,
                })
                .collect(),
            execution_ms: ms,
            buffers,
            json: serde_json::Value::Null,
        }
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn a_lost_index_is_a_new_sequential_scan_and_slower() {
        let t = Thresholds::default();
        let before = plan(0.05, 4, &[("Index Scan", Some("orders"), 3.0, 3.0)]);
        let after = plan(40.0, 5000, &[("Seq Scan", Some("orders"), 3.0, 3.0)]);
        // 3 rows returned, 30 read: too few for PF-Q01 at the default threshold.
        let (f, v) = compare(1, "SELECT", Ok(&before), Ok(&after), &t);
        assert_eq!((ids(&f), v), (vec!["PF-Q02"], Verdict::Regressed));
        let big = plan(40.0, 5000, &[("Seq Scan", Some("orders"), 2000.0, 2000.0)]);
        let (f, _) = compare(1, "SELECT", Ok(&before), Ok(&big), &t);
        assert_eq!(ids(&f), vec!["PF-Q01", "PF-Q02"]);
        assert_eq!(f[0].object, "orders");
        assert_eq!(f[0].statement_number(), Some(1));
        // The other way round it improved.
        let (f, v) = compare(1, "SELECT", Ok(&after), Ok(&before), &t);
        assert_eq!((f.len(), v), (0, Verdict::Improved));
    }

    #[test]
    fn noise_and_failures() {
        let t = Thresholds::default();
        let a = plan(0.2, 10, &[("Seq Scan", Some("tiny"), 5.0, 5.0)]);
        let b = plan(0.6, 30, &[("Seq Scan", Some("tiny"), 5.0, 5.0)]);
        assert_eq!(
            compare(2, "SELECT", Ok(&a), Ok(&b), &t).1,
            Verdict::Unchanged
        );
        let (f, v) = compare(2, "SELECT", Ok(&a), Err(Some("42703")), &t);
        assert_eq!((ids(&f), v), (vec!["PF-Q04"], Verdict::Broke));
        assert_eq!(
            f[0].statement.as_ref().map(|s| s.kind.as_str()),
            Some("SELECT, SQLSTATE 42703")
        );
        assert_eq!(
            compare(2, "SELECT", Err(()), Ok(&b), &t).1,
            Verdict::NotPlanned
        );
        let off = plan(0.6, 30, &[("Hash Join", None, 50_000.0, 20.0)]);
        assert_eq!(
            ids(&compare(2, "SELECT", Ok(&a), Ok(&off), &t).0),
            vec!["PF-Q03"]
        );
    }
}
