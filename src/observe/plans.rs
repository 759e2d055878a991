//! Query plans: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of one declared query on the
//! clone, on a session of its own with production's session settings, inside a
//! transaction that is always rolled back and under a `statement_timeout`. The query
//! runs once to warm the cache (rolled back to a savepoint), then once measured, so the
//! plans before and after the migrations compare like with like. Sample parameter
//! values (trusted configuration) are bound through `PREPARE` / `EXECUTE`. The session
//! ends with the plan, so nothing the query leaves in it (an advisory lock, a setting)
//! outlives it.

use super::connect_with_session;
use crate::bridge::Upstream;
pub use crate::model::observed::{Plan, PlanFailure, PlanNode};
use std::time::Duration;

/// How long a plan may take beyond its statement timeouts (connecting, two runs).
const SLACK: Duration = Duration::from_secs(15);

/// Plans `query` (its `$n` bound to `params`) with `session` settings applied.
pub async fn explain(
    up: &Upstream,
    session: &[(String, String)],
    query: &str,
    params: &[String],
    timeout: Duration,
) -> Result<Plan, PlanFailure> {
    let work = async {
        let client = connect_with_session(up, "preflight-plans", session)
            .await
            .map_err(|e| PlanFailure {
                sqlstate: None,
                message: e.to_string(),
            })?;
        client.batch_execute("BEGIN").await.map_err(failure)?;
        let result = measured(&client, query, params, timeout).await;
        let _ = client.batch_execute("ROLLBACK").await;
        result
    };
    match tokio::time::timeout(timeout * 2 + SLACK, work).await {
        Ok(result) => result,
        Err(_) => Err(PlanFailure {
            sqlstate: None,
            message: "the plan did not finish in time".into(),
        }),
    }
}

fn failure(e: tokio_postgres::Error) -> PlanFailure {
    PlanFailure {
        sqlstate: super::sqlstate_of(&e),
        message: crate::error_chain(&e),
    }
}

/// A SQL literal of a trusted sample value.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

async fn measured(
    client: &tokio_postgres::Client,
    query: &str,
    params: &[String],
    timeout: Duration,
) -> Result<Plan, PlanFailure> {
    let ms = timeout.as_millis().max(1).to_string();
    client
        .execute("SELECT set_config('statement_timeout', $1, true)", &[&ms])
        .await
        .map_err(failure)?;
    let target = if params.is_empty() {
        query.to_string()
    } else {
        // One checked statement (crate::source::queries), so it cannot end the PREPARE.
        client
            .batch_execute(&format!("PREPARE preflight_query AS {query}"))
            .await
            .map_err(failure)?;
        let values: Vec<String> = params.iter().map(|p| literal(p)).collect();
        format!("EXECUTE preflight_query({})", values.join(", "))
    };
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {target}");
    client
        .batch_execute("SAVEPOINT preflight_warm")
        .await
        .map_err(failure)?;
    client.simple_query(&explain).await.map_err(failure)?;
    client
        .batch_execute("ROLLBACK TO SAVEPOINT preflight_warm")
        .await
        .map_err(failure)?;
    let rows = client.simple_query(&explain).await.map_err(failure)?;
    let text = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default();
    parse(&text).ok_or_else(|| PlanFailure {
        sqlstate: None,
        message: "the server's plan could not be read".into(),
    })
}

/// Reads `EXPLAIN (FORMAT JSON)` output.
pub fn parse(text: &str) -> Option<Plan> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let top = json.get(0)?;
    let root = top.get("Plan")?;
    let mut nodes = Vec::new();
    flatten(root, &mut nodes);
    let number = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_f64());
    Some(Plan {
        execution_ms: number(top, "Execution Time").unwrap_or(0.0),
        buffers: (number(root, "Shared Hit Blocks").unwrap_or(0.0)
            + number(root, "Shared Read Blocks").unwrap_or(0.0)) as i64,
        nodes,
        json,
    })
}

fn flatten(node: &serde_json::Value, out: &mut Vec<PlanNode>) {
    let text = |key: &str| node.get(key).and_then(|x| x.as_str()).map(str::to_string);
    let number = |key: &str| node.get(key).and_then(|x| x.as_f64()).unwrap_or(0.0);
    let loops = number("Actual Loops").max(1.0);
    let rows = number("Actual Rows") * loops;
    out.push(PlanNode {
        node_type: text("Node Type").unwrap_or_default(),
        relation: text("Relation Name"),
        index: text("Index Name"),
        rows,
        estimated: number("Plan Rows") * loops,
        scanned: rows + number("Rows Removed by Filter") * loops,
    });
    for child in node
        .get("Plans")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        flatten(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_flattened_with_loops_counted() {
        let text = r#"[{"Plan": {"Node Type": "Nested Loop", "Plan Rows": 10, "Actual Rows": 40,
            "Actual Loops": 1, "Shared Hit Blocks": 30, "Shared Read Blocks": 2,
            "Plans": [{"Node Type": "Seq Scan", "Relation Name": "orders", "Plan Rows": 5,
                       "Actual Rows": 20, "Actual Loops": 2, "Rows Removed by Filter": 480},
                      {"Node Type": "Index Scan", "Relation Name": "accounts",
                       "Index Name": "accounts_pkey", "Plan Rows": 1, "Actual Rows": 1,
                       "Actual Loops": 40}]},
            "Planning Time": 0.1, "Execution Time": 3.5}]"#;
        let p = parse(text).unwrap();
        assert_eq!((p.execution_ms, p.buffers), (3.5, 32));
        assert_eq!(p.nodes.len(), 3);
        let seq = &p.nodes[1];
        assert_eq!((seq.rows, seq.estimated, seq.scanned), (40.0, 10.0, 1000.0));
        assert_eq!(p.nodes[2].index.as_deref(), Some("accounts_pkey"));
    }
}
