//! `preflight bench memory`: what a migration of many statements costs the job in
//! memory and artifacts. It writes a project whose one migration is `--statements`
//! one-line inserts, runs `preflight run --print-only` on it exactly as a job would (this
//! binary, the built-in engine, a fresh work directory), and reads back the job's peak
//! resident memory (the kernel's high-water mark, which the run prints as its last line)
//! and the size of what it left in its artifacts directory.
//!
//! Targets (issue 25): peak under 200 MiB and artifacts under 50 MB at 300,000
//! statements, whatever the number of statements.

use super::machine;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct BenchMemoryArgs {
    /// One-line statements in the migration.
    #[arg(long, default_value_t = 300_000)]
    pub statements: usize,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The line `preflight run` ends its log with ([`crate::commands::peak_memory_line`]).
const PEAK_PREFIX: &str = "preflight: peak memory ";

/// One run's figures, as printed and written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub statements: usize,
    pub exit_code: Option<i32>,
    pub wall_s: f64,
    pub peak_rss_bytes: u64,
    pub artifacts_bytes: u64,
    /// The largest file among them.
    pub largest_artifact: String,
    pub largest_artifact_bytes: u64,
}

pub async fn run(args: BenchMemoryArgs, cancel: CancellationToken) -> Result<()> {
    if args.statements == 0 {
        bail!("--statements must be at least 1");
    }
    println!("machine: {}", machine());
    let root = tempfile::Builder::new()
        .prefix("preflight-bench-memory-")
        .tempdir()?;
    let repo = root.path().join("repo");
    let migrations = repo.join("db/migrations");
    std::fs::create_dir_all(&migrations)?;
    std::fs::write(
        migrations.join("0001_many_inserts.sql"),
        inserts(args.statements),
    )?;
    crate::source::git::init_and_commit(&repo, "many statements").await?;
    let seed = root.path().join("seed.sql");
    std::fs::write(&seed, "CREATE TABLE t (id int);\n")?;
    let config = root.path().join("preflight.yml");
    std::fs::write(
        &config,
        format!(
            "builtin:\n  work_dir: {}\n  source: {{kind: sql_file, path: {}}}\n\
             databases:\n  - {{name: main, db_name: app, migrations: db/migrations}}\n\
             box:\n  migration_timeout: 30m\n",
            root.path().join("engine").display(),
            seed.display()
        ),
    )?;
    let artifacts = root.path().join("artifacts");
    eprintln!(
        "rehearsing one migration of {} one-line inserts ...",
        args.statements
    );
    let started = std::time::Instant::now();
    let exe = std::env::current_exe().context("this binary's path")?;
    let child = crate::child::async_command(exe)
        .args(["run", "--print-only", "--all-migrations"])
        .args(["--config".as_ref(), config.as_os_str()])
        .args(["--artifacts-dir".as_ref(), artifacts.as_os_str()])
        .env("PREFLIGHT_LOCAL_CHECKOUT", &repo)
        .env("HOME", root.path())
        .env("TMPDIR", root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting preflight run")?;
    let out = tokio::select! {
        out = child.wait_with_output() => out?,
        _ = cancel.cancelled() => bail!("cancelled"),
    };
    let wall_s = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    let Some(peak) = peak_from_log(&log) else {
        bail!(
            "preflight run printed no peak memory line; its log ends:\n{}",
            tail(&log)
        );
    };
    let (artifacts_bytes, largest) = sizes(&artifacts)?;
    let result = MemoryResult {
        statements: args.statements,
        exit_code: out.status.code(),
        wall_s,
        peak_rss_bytes: peak,
        artifacts_bytes,
        largest_artifact: largest.0,
        largest_artifact_bytes: largest.1,
    };
    if result.exit_code != Some(0) {
        bail!(
            "preflight run exited {:?}; its log ends:\n{}",
            result.exit_code,
            tail(&log)
        );
    }
    println!(
        "| statements | exit | wall s | peak memory | artifacts | largest |\n|---|---|---|---|---|---|\n\
         | {} | {} | {:.1} | {:.1} MiB (target < 200) | {:.1} MB (target < 50) | {} {:.1} MB |",
        result.statements,
        0,
        result.wall_s,
        result.peak_rss_bytes as f64 / 1048576.0,
        result.artifacts_bytes as f64 / 1e6,
        result.largest_artifact,
        result.largest_artifact_bytes as f64 / 1e6,
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(())
}

/// `n` one-line inserts, one per line.
fn inserts(n: usize) -> String {
    (1..=n)
        .map(|i| format!("INSERT INTO t VALUES ({i});\n"))
        .collect()
}

/// The peak in bytes from the run's `preflight: peak memory N KiB` line.
fn peak_from_log(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(PEAK_PREFIX))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The total size of the files under `dir`, and the largest (its name, its size).
fn sizes(dir: &Path) -> Result<(u64, (String, u64))> {
    let mut total = 0;
    let mut largest = (String::new(), 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.len();
                if meta.len() > largest.1 {
                    largest = (entry.file_name().to_string_lossy().into_owned(), meta.len());
                }
            }
        }
    }
    Ok((total, largest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_read_from_the_last_peak_line() {
        let log = "x\npreflight: peak memory 10 KiB (VmHWM)\ny\npreflight: peak memory 2048 KiB (VmHWM)\n";
        assert_eq!(super::peak_from_log(log), Some(2048 * 1024));
        assert_eq!(super::peak_from_log("nothing"), None);
    }
}
