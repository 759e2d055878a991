//! The plans step of a database's rehearsal: every declared query planned on the clone
//! before the first migration and again after the last (when they all succeeded), as
//! the migration role with production's session settings; the pairs compared by
//! [`crate::analyze::plans`].

use super::step::DatabaseWork;
use crate::analyze::Thresholds;
use crate::bridge::Upstream;
use crate::model::report::{Planned, QueryReport};
use crate::observe::plans::explain;

/// Plans every declared query of `work`, in order.
pub async fn plan_all(up: &Upstream, work: &DatabaseWork) -> Vec<Planned> {
    let mut out = Vec::new();
    for q in &work.queries {
        let planned = explain(
            up,
            &work.db.session,
            &q.text,
            &work.db.queries.params,
            work.db.queries.timeout,
        )
        .await;
        if let Err(e) = &planned {
            tracing::info!("query {} could not be planned: {}", q.index, e.message);
        }
        out.push(match planned {
            Ok(p) => Planned::Planned(p),
            Err(e) => Planned::Failed(e),
        });
    }
    out
}

/// Pairs the plans before with those after (none after: the migrations did not all
/// succeed) and compares each pair.
pub fn compare_all(
    work: &DatabaseWork,
    before: Vec<Planned>,
    after: Option<Vec<Planned>>,
    t: &Thresholds,
) -> Vec<QueryReport> {
    let mut after = after.map(|a| a.into_iter());
    work.queries
        .iter()
        .zip(before)
        .map(|(query, before)| {
            let after = after.as_mut().and_then(Iterator::next);
            let kind = crate::pg::statement::classify(&query.text)
                .map(|c| c.kind)
                .unwrap_or_else(|| "SELECT".into());
            let compared = after.as_ref().map(|after| {
                let b = match &before {
                    Planned::Planned(p) => Ok(p),
                    Planned::Failed(_) => Err(()),
                };
                let a = match after {
                    Planned::Planned(p) => Ok(p),
                    Planned::Failed(f) => Err(f.sqlstate.as_deref()),
                };
                crate::analyze::plans::compare(query.index, &kind, b, a, t)
            });
            let (mut findings, verdict) = match compared {
                Some((f, v)) => (f, Some(v)),
                None => (Vec::new(), None),
            };
            // Any of the database's migrations may acknowledge a query's finding.
            for m in &work.migrations {
                crate::analyze::acknowledge(&mut findings, &m.sql);
            }
            QueryReport {
                query: query.clone(),
                before,
                after,
                verdict,
                findings,
            }
        })
        .collect()
}
