//! Benchmarks users run themselves (`preflight bench ...`); they print a table with
//! the machine they ran on, and write JSON on request. Timings are medians and maxima
//! of one run, and the targets are judged on ratios measured in that same run.

pub mod clones;
pub mod memory;
pub mod rig;
pub mod trace;

use serde::Serialize;

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub backend: String,
    pub op: String,
    pub size_bytes: u64,
    pub runs: usize,
    pub median_s: f64,
    pub max_s: f64,
}

impl Row {
    pub fn new(backend: &str, op: &str, size_bytes: u64, samples: &[f64]) -> Row {
        Row {
            backend: backend.into(),
            op: op.into(),
            size_bytes,
            runs: samples.len(),
            median_s: median(samples),
            max_s: samples.iter().cloned().fold(0.0, f64::max),
        }
    }
}

pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The table, one row per measurement, in the README's format.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| backend | op | size | runs | median s | max s |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.2} GB | {} | {:.3} | {:.3} |\n",
            r.backend,
            r.op,
            r.size_bytes as f64 / 1e9,
            r.runs,
            r.median_s,
            r.max_s
        ));
    }
    out
}

/// What machine this is, for the report.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{cores} cores, {:.0} GiB RAM, Linux {}",
        mem as f64 / 1048576.0,
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let r = Row::new("btrfs", "create", 1, &[0.2, 0.1, 0.4]);
        assert_eq!((r.runs, r.median_s, r.max_s), (3, 0.2, 0.4));
    }
}
