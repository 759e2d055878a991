//! `preflight bench clones`: for each backend and dataset size, the clone-ready time
//! (create request sent -> first query answered on the clone), the reset time (reset
//! request sent -> first query answered), and 8 creations at once, through the HTTP API
//! of an engine started in this process. Datasets are generated `filler` tables; the
//! second backend at a size copies the first one's snapshot instead of generating again.

use super::{machine, table, Row};
use crate::config::file::SourceSection;
use crate::dle_api;
use crate::engine::btrfs_loop::LoopBtrfs;
use crate::engine::config::EngineConfig;
use crate::engine::storage::{is_btrfs, Backend, BackendChoice};
use crate::engine::Engine;
use crate::secret::Secret;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct BenchClonesArgs {
    /// Dataset sizes in GB.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.1, 1.0, 5.0])]
    pub sizes: Vec<f64>,

    /// Runs per measurement.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Backends to measure (btrfs needs a btrfs pool: --btrfs-dir or ops/btrfs-pool.sh).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["btrfs".to_string(), "copy".to_string()])]
    pub backends: Vec<String>,

    /// A directory on btrfs for the btrfs pools (default: a loop file made and removed
    /// by the benchmark, which needs root and btrfs-progs).
    #[arg(long, value_name = "DIR")]
    pub btrfs_dir: Option<PathBuf>,

    /// A directory on a filesystem without copy-on-write for the copy pools.
    #[arg(long, value_name = "DIR")]
    pub copy_dir: Option<PathBuf>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// The PostgreSQL major of the clones (default: the newest on this host).
    #[arg(long, value_name = "MAJOR")]
    pub postgres_major: Option<u32>,
}

const CONCURRENT: usize = 8;

/// A minimal API client that polls every 2 ms, so polling adds little to what it times.
struct Client {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Verification-Token", self.token.expose());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let rsp = req.send().await?;
        let status = rsp.status().as_u16();
        let text = rsp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn create(&self, id: &str, password: &Secret) -> Result<()> {
        let body = dle_api::CreateCloneRequest {
            id: id.into(),
            db: Some(dle_api::DatabaseRequest {
                username: "bench".into(),
                password: password.expose().into(),
                restricted: true,
                db_name: "app".into(),
            }),
            ..Default::default()
        };
        let (status, rsp) = self
            .call(
                reqwest::Method::POST,
                "/clone",
                Some(serde_json::to_value(body)?),
            )
            .await?;
        if status != 201 {
            bail!("POST /clone answered {status}: {rsp}");
        }
        Ok(())
    }

    /// Waits for `OK`, then answers with the clone's port.
    async fn wait_ok(&self, id: &str) -> Result<u16> {
        let started = Instant::now();
        loop {
            let (status, body) = self
                .call(reqwest::Method::GET, &format!("/clone/{id}"), None)
                .await?;
            let c: dle_api::Clone = serde_json::from_value(body.clone()).unwrap_or_default();
            match c.status.code.as_str() {
                "OK" => {
                    return c
                        .db
                        .port
                        .parse()
                        .map_err(|_| anyhow!("clone {id} has no port: {body}"))
                }
                "FATAL" => bail!("clone {id} failed: {}", c.status.message),
                _ if status != 200 => bail!("GET /clone/{id} answered {status}: {body}"),
                _ if started.elapsed() > Duration::from_secs(900) => {
                    bail!("clone {id} not ready after 900 s")
                }
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.call(reqwest::Method::DELETE, &format!("/clone/{id}"), None)
            .await?;
        let started = Instant::now();
        while self
            .call(reqwest::Method::GET, &format!("/clone/{id}"), None)
            .await?
            .0
            != 404
        {
            if started.elapsed() > Duration::from_secs(600) {
                bail!("clone {id} still exists 600 s after DELETE");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// Connects as the clone's user over TCP and runs a query.
async fn first_query(port: u16, password: &Secret) -> Result<()> {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("bench")
        .password(password.expose())
        .dbname("app")
        .connect(tokio_postgres::NoTls)
        .await
        .context("connect to the clone")?;
    tokio::spawn(conn);
    client
        .simple_query("SELECT count(*) FROM filler WHERE id = 1")
        .await?;
    Ok(())
}

async fn timed_create(client: &Client, id: String, password: &Secret) -> Result<f64> {
    let t = Instant::now();
    client.create(&id, password).await?;
    let port = client.wait_ok(&id).await?;
    first_query(port, password).await?;
    Ok(t.elapsed().as_secs_f64())
}

/// The measurements for one backend and size.
async fn measure(
    engine: &Engine,
    backend: &str,
    runs: usize,
    size: u64,
    cancel: &CancellationToken,
) -> Result<Vec<Row>> {
    let token = Secret::generate(32);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let app = crate::engine::api::router(engine.clone(), token.clone());
    let serving = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    let server = tokio::spawn(async move { serving.await });
    let client = Client {
        base: format!("http://{addr}"),
        token,
        http: reqwest::Client::new(),
    };
    let password = Secret::generate(32);
    let mut rows = Vec::new();

    let mut creates = Vec::new();
    for i in 0..runs {
        if cancel.is_cancelled() {
            bail!("cancelled");
        }
        let id = format!("bench-create-{i}");
        creates.push(timed_create(&client, id.clone(), &password).await?);
        client.delete(&id).await?;
    }
    rows.push(Row::new(backend, "create", size, &creates));
    eprintln!(
        "  {backend} {:.2} GB create: median {:.3} s",
        size as f64 / 1e9,
        super::median(&creates)
    );

    client.create("bench-reset", &password).await?;
    client.wait_ok("bench-reset").await?;
    let mut resets = Vec::new();
    for _ in 0..runs {
        if cancel.is_cancelled() {
            bail!("cancelled");
        }
        let t = Instant::now();
        let (status, rsp) = client
            .call(
                reqwest::Method::POST,
                "/clone/bench-reset/reset",
                Some(serde_json::to_value(dle_api::ResetCloneRequest::default())?),
            )
            .await?;
        if status != 200 {
            bail!("reset answered {status}: {rsp}");
        }
        let port = client.wait_ok("bench-reset").await?;
        first_query(port, &password).await?;
        resets.push(t.elapsed().as_secs_f64());
    }
    client.delete("bench-reset").await?;
    rows.push(Row::new(backend, "reset", size, &resets));
    eprintln!(
        "  {backend} {:.2} GB reset: median {:.3} s",
        size as f64 / 1e9,
        super::median(&resets)
    );

    let (_, free) = crate::engine::storage::capacity(&engine.config().pool_dir);
    if engine.backend() == Backend::Copy && free < size * (CONCURRENT as u64 + 1) {
        eprintln!("  {backend}: skipping {CONCURRENT} creations at once: {CONCURRENT} full copies need more than the {free} bytes free");
    } else {
        let all = futures_util::future::join_all(
            (0..CONCURRENT)
                .map(|i| timed_create(&client, format!("bench-concurrent-{i}"), &password)),
        )
        .await;
        let times: Vec<f64> = all.into_iter().collect::<Result<_>>()?;
        for i in 0..CONCURRENT {
            client.delete(&format!("bench-concurrent-{i}")).await?;
        }
        rows.push(Row::new(backend, "create_concurrent_8", size, &times));
        eprintln!(
            "  {backend} {:.2} GB {CONCURRENT} at once: median {:.3} s",
            size as f64 / 1e9,
            super::median(&times)
        );
    }
    stop.cancel();
    let _ = server.await;
    Ok(rows)
}

/// Where a backend's pools go.
fn base_dir(
    backend: Backend,
    args: &BenchClonesArgs,
    scratch: &Path,
    loop_pool: &mut Option<LoopBtrfs>,
) -> Result<PathBuf> {
    match backend {
        Backend::Btrfs => {
            if let Some(dir) = &args.btrfs_dir {
                if !is_btrfs(dir) {
                    bail!("--btrfs-dir {} is not on btrfs", dir.display());
                }
                return Ok(dir.clone());
            }
            if loop_pool.is_none() {
                let largest = args.sizes.iter().cloned().fold(0.0, f64::max);
                let bytes = ((largest * 1.6 + 2.0) * 1e9) as u64;
                let pool = LoopBtrfs::create(scratch, bytes).map_err(|e| {
                    anyhow!("btrfs backend unavailable: {e}; give --btrfs-dir or --backends copy")
                })?;
                eprintln!(
                    "btrfs pool: a {:.1} GB loop file mounted on {}",
                    bytes as f64 / 1e9,
                    pool.mount.display()
                );
                *loop_pool = Some(pool);
            }
            Ok(loop_pool.as_ref().expect("set above").mount.clone())
        }
        Backend::Copy => {
            let dir = args
                .copy_dir
                .clone()
                .unwrap_or_else(|| scratch.join("copy"));
            std::fs::create_dir_all(&dir)?;
            if is_btrfs(&dir) {
                eprintln!(
                    "note: {} is on btrfs; the copy backend still copies every byte",
                    dir.display()
                );
            }
            Ok(dir)
        }
    }
}

pub async fn run(args: BenchClonesArgs, cancel: CancellationToken) -> Result<()> {
    let backends: Vec<Backend> = args
        .backends
        .iter()
        .map(|b| match b.as_str() {
            "btrfs" => Ok(Backend::Btrfs),
            "copy" => Ok(Backend::Copy),
            other => Err(anyhow!("unknown backend {other:?}: use btrfs and/or copy")),
        })
        .collect::<Result<_>>()?;
    if args.runs == 0 || args.sizes.is_empty() {
        bail!("give at least one size and one run");
    }
    let scratch = tempfile::Builder::new()
        .prefix("preflight-bench-")
        .tempdir_in("/var/tmp")
        .context("create a scratch directory in /var/tmp")?;
    let mut loop_pool = None;
    let mut rows = Vec::new();
    eprintln!("machine: {}", machine());
    for &size_gb in &args.sizes {
        let size_mb = (size_gb * 1000.0).round().max(1.0) as u64;
        let mut engines: Vec<Engine> = Vec::new();
        let mut first_data: Option<PathBuf> = None;
        for &backend in &backends {
            let base = base_dir(backend, &args, scratch.path(), &mut loop_pool)?;
            let cfg = EngineConfig {
                pool_dir: base.join(format!("bench-pool-{size_mb}mb")),
                backend: match backend {
                    Backend::Btrfs => BackendChoice::Btrfs,
                    Backend::Copy => BackendChoice::Copy,
                },
                source: match &first_data {
                    Some(path) => SourceSection::DataDir { path: path.clone() },
                    None => SourceSection::Filler { size_mb },
                },
                port_range: (31000, 31999),
                postgres_major: args.postgres_major,
                max_clones: 64,
                free_space_floor_bytes: 0,
                adopt_clones: false,
                clone_start_timeout: Duration::from_secs(600),
                ..EngineConfig::default()
            };
            let pool_dir = cfg.pool_dir.clone();
            let engine = Engine::open(cfg).await.map_err(|e| anyhow!("{e}"))?;
            let t = Instant::now();
            let snapshot = engine.ensure_snapshot().await.map_err(|e| anyhow!("{e}"))?;
            eprintln!(
                "{} {size_gb} GB: snapshot of {:.2} GB ready in {:.1} s",
                backend.name(),
                snapshot.physical_size as f64 / 1e9,
                t.elapsed().as_secs_f64()
            );
            first_data.get_or_insert(pool_dir.join("snapshots").join(&snapshot.id).join("data"));
            let measured = measure(
                &engine,
                backend.name(),
                args.runs,
                snapshot.physical_size,
                &cancel,
            )
            .await;
            engine.destroy_all().await;
            engines.push(engine);
            rows.extend(measured?);
        }
        for engine in engines {
            engine.remove_pool().await;
        }
    }
    println!("\nmachine: {}\n", machine());
    println!("{}", table(&rows));
    for line in verdicts(&rows) {
        println!("{line}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("write {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    drop(loop_pool);
    Ok(())
}

/// The targets, judged on this run's numbers.
fn verdicts(rows: &[Row]) -> Vec<String> {
    let find = |backend: &str, op: &str, largest: bool| {
        let mut r: Vec<&Row> = rows
            .iter()
            .filter(|r| r.backend == backend && r.op == op)
            .collect();
        r.sort_by_key(|r| r.size_bytes);
        if largest {
            r.last().copied()
        } else {
            r.first().copied()
        }
    };
    let mut out = Vec::new();
    let btrfs_creates: Vec<&Row> = rows
        .iter()
        .filter(|r| r.backend == "btrfs" && r.op == "create")
        .collect();
    if !btrfs_creates.is_empty() {
        let worst = btrfs_creates.iter().map(|r| r.median_s).fold(0.0, f64::max);
        out.push(format!(
            "btrfs create median at every size under 0.5 s: {} (worst {worst:.3} s)",
            yes(worst < 0.5)
        ));
    }
    if let (Some(small), Some(big)) = (
        find("btrfs", "create", false),
        find("btrfs", "create", true),
    ) {
        if big.size_bytes > small.size_bytes {
            let ratio = big.median_s / small.median_s;
            out.push(format!(
                "btrfs largest / smallest size create ratio at most 1.5: {} ({ratio:.2})",
                yes(ratio <= 1.5)
            ));
        }
    }
    if let (Some(b), Some(c)) = (find("btrfs", "create", true), find("copy", "create", true)) {
        let speedup = c.median_s / b.median_s;
        out.push(format!(
            "btrfs at least 20 times faster than a full copy at {:.1} GB: {} ({speedup:.0}x)",
            b.size_bytes as f64 / 1e9,
            yes(speedup >= 20.0)
        ));
    }
    out
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}
