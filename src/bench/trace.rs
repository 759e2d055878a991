//! `preflight bench trace`: what observing a migration costs. Each case runs as a real
//! migration ([`super::rig`]: `psql -f` through the bridge on a fresh clone) on the
//! plain relay and traced, interleaved run by run:
//!
//! - (a) one `CREATE INDEX` on a table of `--rows` rows; its SHARE lock's hold is also
//!   timed from outside (a second session waits for it and notes when it is let through);
//! - (b) `--statements` small statements in one migration: one-row inserts, every
//!   `--ddl-every`th a schema change, which the trace wraps and reads locks after.
//!
//! With `--traffic-rate N`, the traffic generator runs beside every traced migration at N
//! statements per second, so the ratio is what observing costs with the generator on.
//! `big` has a primary key so that the generator has a table with rows to aim at: the
//! one (a)'s index build locks, as the generator's default aims at in `preflight run`.
//!
//! Printed: the median wall time of each relay, the ratio traced/plain per case (the
//! target is at most 1.05), and the lock hold ratio for (a).

use super::machine;
use super::median;
use super::rig::{Rehearsed, Relay, Rig, WatchedLock};
use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct BenchTraceArgs {
    /// Rows of the table case (a) builds an index on.
    #[arg(long, default_value_t = 5_000_000)]
    pub rows: u64,

    /// Statements in case (b)'s migration.
    #[arg(long, default_value_t = 10_000)]
    pub statements: usize,

    /// In case (b), every this many statements one is a schema change (0: none).
    #[arg(long, default_value_t = 10)]
    pub ddl_every: usize,

    /// Runs per case and relay (interleaved, each on a fresh clone).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Generated traffic beside every traced migration, statements per second (0: none).
    #[arg(long, default_value_t = 0)]
    pub traffic_rate: u32,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

const INDEX_LOCK: WatchedLock = WatchedLock {
    table: "big",
    mode: "ShareLock",
    conflicting: "ROW EXCLUSIVE",
};

/// One case measured on both relays, as printed and written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub runs: usize,
    pub plain_median_s: f64,
    pub traced_median_s: f64,
    /// traced / plain wall time.
    pub ratio: f64,
    pub plain_lock_hold_median_s: Option<f64>,
    pub traced_lock_hold_median_s: Option<f64>,
    pub lock_hold_ratio: Option<f64>,
    /// Statements the trace recorded in one traced run.
    pub traced_statements: usize,
}

pub async fn run(args: BenchTraceArgs, cancel: CancellationToken) -> Result<()> {
    if args.runs == 0 || args.rows == 0 || args.statements == 0 {
        bail!("--runs, --rows and --statements must be at least 1");
    }
    println!("machine: {}", machine());
    eprintln!("building a snapshot with {} rows ...", args.rows);
    let rig = Rig::new(&seed_sql(args.rows), None)
        .await?
        .with_traffic(args.traffic_rate);
    let cases = [
        (
            format!("CREATE INDEX on {} rows", args.rows),
            rig.migration(
                "create_index.sql",
                "CREATE INDEX big_payload_idx ON big (payload);\n",
            )?,
            Some(INDEX_LOCK),
        ),
        (
            format!(
                "{} statements (1 in {} a schema change)",
                args.statements, args.ddl_every
            ),
            rig.migration(
                "statements.sql",
                &statements_sql(args.statements, args.ddl_every),
            )?,
            None,
        ),
    ];
    let mut results = Vec::new();
    for (label, file, watched) in cases {
        let (mut plain, mut traced) = (Vec::new(), Vec::new());
        for i in 0..args.runs {
            for relay in [Relay::Plain, Relay::Traced] {
                if cancel.is_cancelled() {
                    bail!("cancelled");
                }
                let r = rig.rehearse(relay, &file, watched).await?;
                if !r.exit_ok {
                    bail!("the {label} migration failed: {}", r.stderr);
                }
                eprintln!("{label}, {relay:?} run {}: {:.3} s", i + 1, r.wall_s);
                match relay {
                    Relay::Plain => plain.push(r),
                    Relay::Traced => traced.push(r),
                }
            }
        }
        results.push(summarize(label, &plain, &traced));
    }
    print!("{}", table(&results));
    for r in &results {
        println!("ratio traced/plain, {}: {:.3}", r.case, r.ratio);
        if let Some(l) = r.lock_hold_ratio {
            println!("lock hold ratio traced/plain, {}: {:.3}", r.case, l);
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn seed_sql(rows: u64) -> String {
    format!(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload \
         FROM generate_series(1, {rows}) g;\n\
         ALTER TABLE big ADD PRIMARY KEY (id);\n\
         CREATE TABLE small (id int PRIMARY KEY, v text);\n"
    )
}

/// One-row inserts; every `ddl_every`th statement changes the table's default instead.
fn statements_sql(n: usize, ddl_every: usize) -> String {
    (1..=n)
        .map(|i| {
            if ddl_every > 0 && i % ddl_every == 0 {
                format!("ALTER TABLE small ALTER COLUMN v SET DEFAULT 'd{i}';\n")
            } else {
                format!("INSERT INTO small VALUES ({i}, 'v');\n")
            }
        })
        .collect()
}

fn summarize(case: String, plain: &[Rehearsed], traced: &[Rehearsed]) -> CaseResult {
    let wall = |s: &[Rehearsed]| median(&s.iter().map(|s| s.wall_s).collect::<Vec<_>>());
    let hold = |s: &[Rehearsed]| {
        let holds: Vec<f64> = s.iter().filter_map(|s| s.lock_hold_s).collect();
        (!holds.is_empty() && holds.len() == s.len()).then(|| median(&holds))
    };
    let (p, t) = (wall(plain), wall(traced));
    let (ph, th) = (hold(plain), hold(traced));
    CaseResult {
        case,
        runs: plain.len(),
        plain_median_s: p,
        traced_median_s: t,
        ratio: t / p,
        plain_lock_hold_median_s: ph,
        traced_lock_hold_median_s: th,
        lock_hold_ratio: ph.zip(th).map(|(p, t)| t / p),
        traced_statements: traced.first().map_or(0, |s| s.traced_statements),
    }
}

fn table(results: &[CaseResult]) -> String {
    let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    let mut out = String::from(
        "| case | runs | plain median s | traced median s | ratio | lock hold plain s | lock hold traced s |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} | {} |\n",
            r.case,
            r.runs,
            r.plain_median_s,
            r.traced_median_s,
            r.ratio,
            secs(r.plain_lock_hold_median_s),
            secs(r.traced_lock_hold_median_s),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_mix_schema_changes_in() {
        let sql = statements_sql(20, 10);
        assert_eq!(sql.lines().count(), 20);
        assert_eq!(sql.lines().filter(|l| l.starts_with("ALTER")).count(), 2);
        assert!(sql.lines().nth(9).unwrap().starts_with("ALTER"));
    }

    #[test]
    fn ratio_and_lock_hold_only_when_every_run_saw_it() {
        let s = |wall_s, lock_hold_s| Rehearsed {
            wall_s,
            lock_hold_s,
            traced_statements: 3,
            exit_ok: true,
            stdout: String::new(),
            stderr: String::new(),
            statements: vec![],
            state: vec![],
        };
        let r = summarize(
            "c".into(),
            &[s(1.0, Some(0.5)), s(3.0, Some(0.7))],
            &[s(2.0, Some(0.6)), s(2.4, None)],
        );
        assert_eq!((r.plain_median_s, r.traced_median_s), (2.0, 2.2));
        assert!((r.ratio - 1.1).abs() < 1e-9);
        assert_eq!(r.plain_lock_hold_median_s, Some(0.6));
        assert_eq!(r.traced_lock_hold_median_s, None);
        assert_eq!(r.lock_hold_ratio, None);
        assert_eq!(r.traced_statements, 3);
    }
}
