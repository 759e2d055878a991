//! Filling a fresh data directory from a source, then making it fit to snapshot: a
//! logical source (demo, filler, SQL file, `pg_dump`) is loaded into a new cluster as
//! the data owner role; a physical one (`pg_basebackup`, or a copy of a data directory)
//! is copied and given preflight's own server settings and authentication rules. Then
//! the server is started on its socket alone (crash recovery runs here, never in a
//! clone), the preprocessing hook's SQL files run in name order (to mask data), the data
//! is handed to the owner role clones take over, and a checkpoint and a clean shutdown
//! leave a directory a clone starts from without recovery.

use super::connstr::split_password;
use super::dataset::{demo_sql, filler_sql};
use super::role::{prepare_owner, OWNER_ROLE};
use super::server::{free_port, PgServer, StopMode, SUPERUSER};
use super::PgError;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where a snapshot's data comes from (the built-in engine's `builtin.source`, and the
/// engine service's `source`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum SourceSection {
    /// The demo dataset: generated accounts and orders.
    Demo {
        #[serde(default = "default_demo_rows")]
        rows: u64,
    },
    /// A generated `filler` table of about this many megabytes (benchmarks).
    Filler { size_mb: u64 },
    /// A SQL file (schema and data) run on an empty database.
    SqlFile { path: PathBuf },
    /// A logical copy (`pg_dump` / `pg_restore`) of a database reachable at this URL.
    Url { url: Secret },
    /// A physical copy (`pg_basebackup`) of the whole source server, given as a libpq
    /// connection string of a role with the REPLICATION attribute.
    Physical { connstr: Secret },
    /// A copy of an existing data directory of a stopped server (or a file-system
    /// snapshot of a running one).
    DataDir { path: PathBuf },
}

fn default_demo_rows() -> u64 {
    1_000_000
}

impl Default for SourceSection {
    fn default() -> Self {
        SourceSection::Demo {
            rows: default_demo_rows(),
        }
    }
}

/// What a load produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The databases a clone can ask for (no templates).
    pub databases: Vec<String>,
    /// Bytes of the data directory as PostgreSQL sees them (all databases).
    pub logical_size: u64,
}

/// Settings every snapshot's server runs with (a physical source's own configuration
/// file is set aside: it names paths and ports of the source host).
const SERVER_CONF: &str = "\
# preflight: settings for clones of this snapshot
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_utility = on
listen_addresses = ''
max_connections = 100
";

/// Authentication: the engine's superuser through the private socket only; every TCP
/// connection needs a SCRAM password.
const HBA_CONF: &str = "\
local all all trust
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
";

/// Fills `server.data_dir` (which must not exist yet) from `source`, runs the hook's
/// SQL files on `db_name`, checkpoints and stops cleanly.
/// The major of the source's own server or data, where it has one: a `url` source's
/// server is asked (with the newest `psql`, `bin_dir`'s), a `data_dir`'s `PG_VERSION` is
/// read; a `physical` copy's is read once copied; the others have none.
pub async fn source_major(source: &SourceSection, bin_dir: &Path) -> Result<Option<u32>, PgError> {
    match source {
        SourceSection::Url { url } => {
            let (url, password) = split_password(url.expose());
            let mut cmd = source_tool(&bin_dir.join("psql"), password.as_ref());
            cmd.args(["-w", "-X", "-A", "-t", "-c", "SHOW server_version_num"])
                .arg(format!("--dbname={url}"));
            let action = "ask the source server its version";
            let out = tokio::task::spawn_blocking(move || cmd.output())
                .await
                .map_err(|e| PgError::new(action, e))?
                .map_err(|e| PgError::new(action, e))?;
            if !out.status.success() {
                return Err(PgError::new(
                    action,
                    String::from_utf8_lossy(&out.stderr).trim(),
                ));
            }
            let num: i64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .map_err(|e| PgError::new(action, e))?;
            Ok(Some(super::majors::of_version_num(num)))
        }
        SourceSection::DataDir { path } => Ok(super::majors::of_data_dir(path)),
        _ => Ok(None),
    }
}

/// Fills `server`'s empty data directory from `source`. With `majors`, a physical copy
/// runs on the binaries of the major it turns out to be (its `PG_VERSION`).
pub async fn load(
    server: &PgServer,
    source: &SourceSection,
    db_name: &str,
    preprocess_dir: Option<&Path>,
    majors: Option<&super::majors::Majors>,
) -> Result<Loaded, PgError> {
    let logical = match source {
        SourceSection::Physical { connstr } => {
            base_backup(server, connstr).await?;
            adopt_foreign_config(server)?;
            false
        }
        SourceSection::DataDir { path } => {
            copy_data_dir(path, &server.data_dir).await?;
            server.run_as.own(&server.data_dir)?;
            adopt_foreign_config(server)?;
            false
        }
        _ => {
            server.initdb().await?;
            true
        }
    };
    let copied;
    let server = match majors {
        Some(majors) if !logical => {
            let action = "run the copied data on its own PostgreSQL major";
            let major = super::majors::of_data_dir(&server.data_dir)
                .ok_or_else(|| PgError::new(action, "the copy has no PG_VERSION"))?;
            copied = PgServer {
                bin_dir: majors.bin_dir(major).map_err(|e| PgError::new(action, e))?,
                ..server.clone()
            };
            &copied
        }
        _ => server,
    };
    let port = free_port()?;
    // Durability while building is not needed (a failed build is thrown away). A logical
    // load also skips WAL for the tables it creates (wal_level minimal), so the snapshot
    // holds the data and little else; a physical copy must replay its WAL at its level.
    let mut build_settings = vec![("fsync", "off"), ("full_page_writes", "off")];
    if logical {
        build_settings.extend([
            ("wal_level", "minimal"),
            ("max_wal_senders", "0"),
            ("min_wal_size", "32MB"),
            ("max_wal_size", "256MB"),
        ]);
    }
    server
        .start(port, "", &build_settings, Duration::from_secs(600))
        .await?;
    let result = async {
        if logical {
            create_owned_database(server, port, db_name).await?;
            fill(server, port, source, db_name).await?;
            let db = server.connect(port, db_name).await?;
            db.batch_execute("ANALYZE")
                .await
                .map_err(|e| PgError::pg("analyze the loaded data", e))?;
        }
        preprocess(server, port, db_name, preprocess_dir).await?;
        let db = server.connect(port, db_name).await?;
        // The observers read pg_stat_statements; a physical copy may not have it yet.
        db.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .map_err(|e| PgError::pg("create the pg_stat_statements extension", e))?;
        prepare_owner(&db).await?;
        finish(server, port).await
    }
    .await;
    let stopped = server.stop(StopMode::Fast).await;
    let loaded = result?;
    stopped?;
    // fsync was off while building: flush once now, before the directory is sealed.
    let _ = tokio::task::spawn_blocking(nix::unistd::sync).await;
    Ok(loaded)
}

fn run_tool(mut cmd: Command, action: &str) -> Result<(), PgError> {
    let out = cmd
        .output()
        .map_err(|e| PgError::new(action, format!("{e}; is that PostgreSQL major prepared?")))?;
    if !out.status.success() {
        return Err(PgError::new(
            action,
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(())
}

/// `program` with only the environment it needs: the source's password, if any, as
/// `PGPASSWORD` (never on the command line, which any local user can read).
fn source_tool(program: &Path, password: Option<&Secret>) -> Command {
    let mut cmd = crate::child::command(program);
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw.expose());
    }
    cmd
}

async fn base_backup(server: &PgServer, connstr: &Secret) -> Result<(), PgError> {
    let parent = server.data_dir.parent().unwrap_or(Path::new("/"));
    server.run_as.own(parent)?;
    let (connstr, password) = split_password(connstr.expose());
    let mut cmd = source_tool(&server.bin_dir.join("pg_basebackup"), password.as_ref());
    {
        use std::os::unix::process::CommandExt;
        cmd.uid(server.run_as.uid).gid(server.run_as.gid);
    }
    cmd.arg("-D").arg(&server.data_dir).args([
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-sync",
        "-w",
        "-d",
        &connstr,
    ]);
    tokio::task::spawn_blocking(move || run_tool(cmd, "copy the source server with pg_basebackup"))
        .await
        .map_err(|e| PgError::new("run pg_basebackup", e))?
}

async fn copy_data_dir(from: &Path, to: &Path) -> Result<(), PgError> {
    if !from.join("PG_VERSION").is_file() {
        return Err(PgError::new(
            "copy the source data directory",
            format!(
                "{} is not a PostgreSQL data directory (no PG_VERSION)",
                from.display()
            ),
        ));
    }
    let mut cmd = crate::child::command("cp");
    cmd.args(["-a", "--reflink=auto"]).arg(from).arg(to);
    tokio::task::spawn_blocking(move || run_tool(cmd, "copy the source data directory"))
        .await
        .map_err(|e| PgError::new("copy the source data directory", e))?
}

/// A copied cluster keeps its data but gets preflight's configuration: the source's own
/// files are kept beside it under `.source` names for reference.
fn adopt_foreign_config(server: &PgServer) -> Result<(), PgError> {
    let data = &server.data_dir;
    for name in ["postgresql.conf", "pg_hba.conf", "postgresql.auto.conf"] {
        let path = data.join(name);
        if path.exists() {
            std::fs::rename(&path, data.join(format!("{name}.source")))
                .map_err(|e| PgError::new(format!("set aside {}", path.display()), e))?;
        }
    }
    for name in ["standby.signal", "recovery.signal", "postmaster.pid"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    let write = |name: &str, text: &str| {
        std::fs::write(data.join(name), text).map_err(|e| PgError::new(format!("write {name}"), e))
    };
    write("postgresql.conf", SERVER_CONF)?;
    write("pg_hba.conf", HBA_CONF)?;
    write("pg_ident.conf", "")?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| PgError::new("secure the data directory", e))?;
    }
    server.run_as.own(data)
}

/// Creates the owner role and `db_name` owned by it; a database of that name that is
/// already there (`postgres` is on every cluster) is used, not created, and handed to
/// the owner role.
async fn create_owned_database(server: &PgServer, port: u16, db_name: &str) -> Result<(), PgError> {
    let admin = server.connect(port, "postgres").await?;
    let sql = admin
        .query_one(
            "SELECT format('CREATE ROLE %I NOLOGIN', $1::text), \
                    format('CREATE DATABASE %I OWNER %I', $2::text, $1::text), \
                    EXISTS (SELECT 1 FROM pg_database WHERE datname = $2::text), \
                    format('ALTER DATABASE %I OWNER TO %I', $2::text, $1::text)",
            &[&OWNER_ROLE, &db_name],
        )
        .await
        .map_err(|e| PgError::pg("prepare the database", e))?;
    let exists: bool = sql.get(2);
    let columns: &[usize] = if exists { &[0, 3] } else { &[0, 1] };
    // CREATE DATABASE cannot share a transaction with anything: one call each.
    for column in columns {
        admin
            .batch_execute(sql.get::<_, &str>(*column))
            .await
            .map_err(|e| PgError::pg("create the database", e))?;
    }
    let db = server.connect(port, db_name).await?;
    db.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .map_err(|e| PgError::pg("create the pg_stat_statements extension", e))
}

async fn fill(
    server: &PgServer,
    port: u16,
    source: &SourceSection,
    db_name: &str,
) -> Result<(), PgError> {
    let db = server.connect(port, db_name).await?;
    let as_owner = |sql: String| format!("SET ROLE {OWNER_ROLE};\n{sql}\nRESET ROLE;");
    match source {
        SourceSection::Demo { rows } => db
            .batch_execute(&as_owner(demo_sql(*rows)))
            .await
            .map_err(|e| PgError::pg("generate the demo dataset", e)),
        SourceSection::Filler { size_mb } => db
            .batch_execute(&as_owner(filler_sql(*size_mb)))
            .await
            .map_err(|e| PgError::pg("generate the filler dataset", e)),
        SourceSection::SqlFile { path } => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| PgError::new(format!("read {}", path.display()), e))?;
            db.batch_execute(&as_owner(text))
                .await
                .map_err(|e| PgError::pg(format!("load the source SQL file {}", path.display()), e))
        }
        SourceSection::Url { url } => restore_from(url, server, port, db_name).await,
        SourceSection::Physical { .. } | SourceSection::DataDir { .. } => Ok(()),
    }
}

/// A logical copy: `pg_dump` from the source URL, `pg_restore` with the data owned by
/// the owner role.
async fn restore_from(url: &Secret, server: &PgServer, port: u16, db: &str) -> Result<(), PgError> {
    let dump: PathBuf = server.data_dir.with_file_name("source.dump");
    let bin = server.bin_dir.clone();
    let (url, password) = split_password(url.expose());
    let (sock, db) = (server.socket_dir.clone(), db.to_string());
    tokio::task::spawn_blocking(move || -> Result<(), PgError> {
        let mut dump_cmd = source_tool(&bin.join("pg_dump"), password.as_ref());
        dump_cmd
            .args(["-w", "-Fc", "--no-owner", "--no-acl", "-f"])
            .arg(&dump)
            .arg(format!("--dbname={url}"));
        run_tool(dump_cmd, "copy the source database with pg_dump")?;
        let mut restore = crate::child::command(bin.join("pg_restore"));
        restore
            .args(["--no-owner", "--no-acl", "--exit-on-error"])
            .arg(format!("--role={OWNER_ROLE}"))
            .arg("-h")
            .arg(&sock)
            .args(["-p", &port.to_string(), "-U", SUPERUSER, "-d", &db])
            .arg(&dump);
        let restored = run_tool(restore, "restore the source database with pg_restore");
        let _ = std::fs::remove_file(&dump);
        restored
    })
    .await
    .map_err(|e| PgError::new("copy the source database", e))?
}

/// Runs every `*.sql` file of the hook directory, in name order, on `db_name`.
async fn preprocess(
    server: &PgServer,
    port: u16,
    db_name: &str,
    dir: Option<&Path>,
) -> Result<(), PgError> {
    let Some(dir) = dir else { return Ok(()) };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            PgError::new(
                format!("read the preprocessing directory {}", dir.display()),
                e,
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let db = server.connect(port, db_name).await?;
    for file in files {
        let sql = std::fs::read_to_string(&file)
            .map_err(|e| PgError::new(format!("read {}", file.display()), e))?;
        tracing::info!(file = %file.display(), "preprocessing");
        db.batch_execute(&sql).await.map_err(|e| {
            PgError::pg(format!("run the preprocessing file {}", file.display()), e)
        })?;
    }
    Ok(())
}

async fn finish(server: &PgServer, port: u16) -> Result<Loaded, PgError> {
    let admin = server.connect(port, "postgres").await?;
    let rows = admin
        .query(
            "SELECT datname, pg_database_size(oid) FROM pg_database WHERE NOT datistemplate ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| PgError::pg("list the databases", e))?;
    admin
        .batch_execute("CHECKPOINT")
        .await
        .map_err(|e| PgError::pg("checkpoint", e))?;
    Ok(Loaded {
        databases: rows.iter().map(|r| r.get::<_, String>(0)).collect(),
        logical_size: rows.iter().map(|r| r.get::<_, i64>(1).max(0) as u64).sum(),
    })
}
