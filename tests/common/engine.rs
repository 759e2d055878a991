//! A real `preflight engine serve` process for tests: started on a pool in a temporary
//! directory with a small seed database, its address read from its "listening on"
//! line, spoken to over HTTP like any client would. On drop it is killed and every
//! clone server under its pool is stopped, so a failing test leaves nothing running.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "engine-token-0123456789abcdef";
pub const PASSWORD: &str = "Vx8kQ2mZp4Lr7Tn1Wc6Y";

pub const SEED: &str = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) AS g;";

pub struct EngineProc {
    pub child: Option<Child>,
    pub url: String,
    pub pool: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    http: reqwest::Client,
}

/// Writes a configuration: [`SEED`] as source, a pool under `dir`, plus `extra` YAML.
pub fn engine_config(dir: &Path, pool: &Path, extra: &str) -> PathBuf {
    engine_config_seeded(dir, pool, SEED, extra)
}

/// Writes a configuration with `seed_sql` as the source.
pub fn engine_config_seeded(dir: &Path, pool: &Path, seed_sql: &str, extra: &str) -> PathBuf {
    let seed = dir.join("engine-seed.sql");
    std::fs::write(&seed, seed_sql).unwrap();
    let config = dir.join("engine.yml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\npool_dir: {}\nsource: {{kind: sql_file, path: {}}}\n\
             db_name: app\nfree_space_floor_bytes: 0\n{extra}",
            pool.display(),
            seed.display()
        ),
    )
    .unwrap();
    config
}

impl EngineProc {
    /// Starts an engine on `pool` (configured under `dir`) and waits for its address.
    pub fn start(dir: &Path, pool: &Path, extra: &str) -> EngineProc {
        let config = engine_config(dir, pool, extra);
        Self::start_with(config, pool)
    }

    /// Starts an engine and waits for its first snapshot.
    pub async fn ready(dir: &Path, pool: &Path, extra: &str) -> EngineProc {
        let engine = Self::start(dir, pool, extra);
        engine.wait_for_snapshot().await;
        engine
    }

    /// The CI variables that point `preflight run` at this engine.
    pub fn run_env(&self) -> [(&'static str, String); 2] {
        [
            ("PREFLIGHT_ENGINE_URL", self.url.clone()),
            ("PREFLIGHT_ENGINE_TOKEN", TOKEN.to_string()),
        ]
    }

    /// A ready engine on the copy backend with its own `ports` (inclusive), in a fresh
    /// temporary directory (returned, to keep alive); the pool is `<dir>/pool`.
    pub async fn ready_on_copy(ports: (u16, u16)) -> (tempfile::TempDir, EngineProc) {
        let root = tempfile::tempdir().unwrap();
        let pool = root.path().join("pool");
        let engine = EngineProc::ready(
            root.path(),
            &pool,
            &format!("backend: copy\nport_range: [{}, {}]\n", ports.0, ports.1),
        )
        .await;
        (root, engine)
    }

    /// Starts an engine with an existing configuration file.
    pub fn start_with(config: PathBuf, pool: &Path) -> EngineProc {
        let log = config.with_extension(format!("{}.log", rand_suffix()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(["engine", "serve", "--config"])
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("PREFLIGHT_ENGINE_TOKEN", TOKEN)
            .env("PREFLIGHT_LOG", "preflight=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if let Some(addr) = line.strip_prefix("preflight engine: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the engine did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        EngineProc {
            child: Some(child),
            url: format!("http://{addr}"),
            pool: pool.to_path_buf(),
            config,
            log,
            http: reqwest::Client::new(),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request with the token; answers the status and the JSON body (or null).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Verification-Token", t);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let rsp = req.send().await.unwrap();
        let status = rsp.status().as_u16();
        let text = rsp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Waits until the engine has a snapshot.
    pub async fn wait_for_snapshot(&self) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.call("GET", "/snapshots", None).await;
            assert_eq!(status, 200, "{body}");
            if let Some(s) = body.as_array().and_then(|a| a.first()) {
                return s.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no snapshot after 120 s: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The body of a create request.
    pub fn create_body(id: &str, db_name: &str) -> String {
        json!({"id": id, "protected": false, "db": {"username": "dev", "password": PASSWORD, "restricted": true, "db_name": db_name}}).to_string()
    }

    /// Creates a clone and answers the 201 body.
    pub async fn create(&self, id: &str) -> Value {
        let (status, body) = self
            .call("POST", "/clone", Some(&Self::create_body(id, "app")))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Polls a clone until its status is not `transitional`; answers the clone.
    pub async fn wait_settled(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.call("GET", &format!("/clone/{id}"), None).await;
            let code = body["status"]["code"].as_str().unwrap_or_default();
            if status != 200 || !matches!(code, "CREATING" | "RESETTING" | "DELETING") {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "clone {id} still {code} after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until GET /clone/{id} answers 404.
    pub async fn wait_gone(&self, id: &str) {
        let started = Instant::now();
        while self.call("GET", &format!("/clone/{id}"), None).await.0 != 404 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "clone {id} not gone"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL: a crash, leaving clones running.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        child.wait().ok().and_then(|s| s.code())
    }
}

/// A connection to a clone as its requester, over TCP with the password.
pub async fn connect_clone(clone: &Value) -> tokio_postgres::Client {
    let port: u16 = clone["db"]["port"].as_str().unwrap().parse().unwrap();
    let (client, conn) = tokio_postgres::Config::new()
        .host(clone["db"]["host"].as_str().unwrap())
        .port(port)
        .user(clone["db"]["username"].as_str().unwrap())
        .password(PASSWORD)
        .dbname(clone["db"]["dbName"].as_str().unwrap())
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// PostgreSQL servers whose command line names `pool`.
pub fn servers_under(pool: &Path) -> String {
    let out = Command::new("pgrep")
        .args(["-a", "-f", &format!("postgres -D {}", pool.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh number per engine started by this test process (log file names).
fn rand_suffix() -> u32 {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for EngineProc {
    fn drop(&mut self) {
        self.crash();
        let _ = Command::new("pkill")
            .args(["-9", "-f", &format!("postgres -D {}", self.pool.display())])
            .status();
    }
}

/// A btrfs loop device under `dir` for the pool, or, where btrfs cannot be used, the
/// copy backend; says which in the test's output. Answers the device (keep it alive),
/// the pool path and the backend's name.
pub fn btrfs_or_copy(
    dir: &Path,
    size_bytes: u64,
    testing: &str,
) -> (
    Option<preflight::engine::btrfs_loop::LoopBtrfs>,
    PathBuf,
    &'static str,
) {
    use preflight::engine::btrfs_loop::{available, LoopBtrfs};
    match available().and_then(|_| LoopBtrfs::create(dir, size_bytes)) {
        Ok(fs) => {
            let pool = fs.mount.join("pool");
            (Some(fs), pool, "btrfs")
        }
        Err(reason) => {
            eprintln!("NOTE: btrfs backend unavailable here ({reason}); {testing}");
            (None, dir.join("pool"), "copy")
        }
    }
}

/// A PostgreSQL server of the binaries in `bin_dir`, freshly made under `dir` and started
/// on a free port: a source, as production's server would be.
pub async fn started_server(
    bin_dir: PathBuf,
    dir: &Path,
) -> (preflight::pg::server::PgServer, u16) {
    use preflight::pg::server::{free_port, PgServer, RunAs};
    let run_as = RunAs::detect().unwrap();
    std::fs::create_dir_all(dir.join("sock")).unwrap();
    run_as.own(dir).unwrap();
    let server = PgServer {
        bin_dir,
        data_dir: dir.join("data"),
        socket_dir: dir.join("sock"),
        log_file: dir.join("source.log"),
        run_as,
        confined: false,
    };
    server.initdb().await.unwrap();
    let port = free_port().unwrap();
    server
        .start(port, "", &[], Duration::from_secs(60))
        .await
        .unwrap();
    (server, port)
}
