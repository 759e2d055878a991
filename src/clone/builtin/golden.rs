//! Golden copies: a checkpointed, cleanly shut down data directory per source and
//! database name, built once and reused by every clone. Built under a file lock into a
//! temporary directory and renamed into place, so a half-built copy is never used and
//! two processes never build the same one twice.

use super::dataset::demo_sql;
use super::server::{free_port, PgServer, RunAs, OWNER_ROLE};
use crate::clone::CloneError;
use crate::config::file::SourceSection;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct GoldenStore {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub run_as: RunAs,
}

fn cache_key(source: &SourceSection, db_name: &str) -> Result<String, CloneError> {
    let mut h = Sha256::new();
    h.update(b"golden-v1\0");
    h.update(db_name.as_bytes());
    let label = match source {
        SourceSection::Demo { rows } => {
            h.update(demo_sql(*rows).as_bytes());
            "demo"
        }
        SourceSection::SqlFile { path } => {
            let text = std::fs::read(path).map_err(|e| {
                CloneError::builtin(format!("read the source SQL file {}", path.display()), e)
            })?;
            h.update(&text);
            "sql"
        }
        SourceSection::Url { url } => {
            h.update(url.as_bytes());
            "url"
        }
    };
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{label}-{db_name}-{hex}"))
}

impl GoldenStore {
    /// The golden data directory for this source and database, built if missing.
    pub async fn ensure(
        &self,
        source: &SourceSection,
        db_name: &str,
    ) -> Result<PathBuf, CloneError> {
        let key = cache_key(source, db_name)?;
        let done = self.root.join(&key);
        if done.join("data").is_dir() {
            return Ok(done.join("data"));
        }
        std::fs::create_dir_all(&self.root)
            .map_err(|e| CloneError::builtin(format!("create {}", self.root.display()), e))?;
        let lock_path = self.root.join(format!("{key}.lock"));
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::create(&lock_path)?;
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, e)| std::io::Error::from(e))
        })
        .await
        .map_err(|e| CloneError::builtin("lock the golden copy", e))?
        .map_err(|e| CloneError::builtin("lock the golden copy", e))?;

        if !done.join("data").is_dir() {
            let building = self.root.join(format!("{key}.building"));
            let _ = std::fs::remove_dir_all(&building);
            let result = self.build(source, db_name, &building).await;
            if let Err(e) = result {
                let _ = std::fs::remove_dir_all(&building);
                return Err(e);
            }
            std::fs::rename(&building, &done)
                .map_err(|e| CloneError::builtin("move the golden copy into place", e))?;
        }
        drop(lock);
        Ok(done.join("data"))
    }

    async fn build(
        &self,
        source: &SourceSection,
        db_name: &str,
        dir: &Path,
    ) -> Result<(), CloneError> {
        tracing::info!(dir = %dir.display(), "building the golden copy (once per source)");
        let sock = dir.join("sock");
        std::fs::create_dir_all(&sock)
            .map_err(|e| CloneError::builtin(format!("create {}", dir.display()), e))?;
        self.run_as.own(dir)?;
        let server = PgServer {
            bin_dir: self.bin_dir.clone(),
            data_dir: dir.join("data"),
            socket_dir: sock,
            log_file: dir.join("build.log"),
            run_as: self.run_as,
        };
        server.initdb().await?;
        let port = free_port()?;
        server.start(port, "", Duration::from_secs(60)).await?;
        let loaded = self.load(&server, port, source, db_name).await;
        let stopped = server.stop(true).await;
        loaded.and(stopped)
    }

    async fn load(
        &self,
        server: &PgServer,
        port: u16,
        source: &SourceSection,
        db_name: &str,
    ) -> Result<(), CloneError> {
        let admin = server.connect(port, "postgres").await?;
        let sql = admin
            .query_one(
                "SELECT format('CREATE ROLE %I NOLOGIN', $1::text), format('CREATE DATABASE %I OWNER %I', $2::text, $1::text)",
                &[&OWNER_ROLE, &db_name],
            )
            .await
            .map_err(|e| CloneError::pg("prepare the golden database", e))?;
        // CREATE DATABASE cannot share a transaction with anything: one call each.
        for column in 0..2 {
            admin
                .batch_execute(sql.get::<_, &str>(column))
                .await
                .map_err(|e| CloneError::pg("create the golden database", e))?;
        }
        let db = server.connect(port, db_name).await?;
        let setup = format!("CREATE EXTENSION pg_stat_statements; SET ROLE {OWNER_ROLE};");
        db.batch_execute(&setup)
            .await
            .map_err(|e| CloneError::pg("prepare the golden database", e))?;
        match source {
            SourceSection::Demo { rows } => db
                .batch_execute(&demo_sql(*rows))
                .await
                .map_err(|e| CloneError::pg("generate the demo dataset", e))?,
            SourceSection::SqlFile { path } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CloneError::builtin(format!("read {}", path.display()), e))?;
                db.batch_execute(&text).await.map_err(|e| {
                    CloneError::builtin(format!("load the source SQL file {}", path.display()), e)
                })?
            }
            SourceSection::Url { url } => self.restore_from(url, server, port, db_name).await?,
        }
        db.batch_execute("RESET ROLE; ANALYZE; CHECKPOINT;")
            .await
            .map_err(|e| CloneError::pg("checkpoint the golden database", e))
    }

    /// A logical copy: `pg_dump` from the source URL, `pg_restore` with the data owned by
    /// the golden owner role.
    async fn restore_from(
        &self,
        url: &str,
        server: &PgServer,
        port: u16,
        db: &str,
    ) -> Result<(), CloneError> {
        let dump = server.data_dir.with_file_name("source.dump");
        let bin = self.bin_dir.clone();
        let (url, sock, db) = (url.to_string(), server.socket_dir.clone(), db.to_string());
        tokio::task::spawn_blocking(move || -> Result<(), CloneError> {
            let out = std::process::Command::new(bin.join("pg_dump"))
                .args(["-Fc", "--no-owner", "--no-acl", "-f"])
                .arg(&dump)
                .arg(format!("--dbname={url}"))
                .output()
                .map_err(|e| CloneError::builtin("run pg_dump", e))?;
            if !out.status.success() {
                return Err(CloneError::builtin(
                    "copy the source database with pg_dump",
                    String::from_utf8_lossy(&out.stderr).trim(),
                ));
            }
            let out = std::process::Command::new(bin.join("pg_restore"))
                .args(["--no-owner", "--no-acl", "--exit-on-error"])
                .arg(format!("--role={OWNER_ROLE}"))
                .arg("-h")
                .arg(&sock)
                .args(["-p", &port.to_string(), "-U", "postgres", "-d", &db])
                .arg(&dump)
                .output()
                .map_err(|e| CloneError::builtin("run pg_restore", e))?;
            let _ = std::fs::remove_file(&dump);
            if !out.status.success() {
                return Err(CloneError::builtin(
                    "restore the source database with pg_restore",
                    String::from_utf8_lossy(&out.stderr).trim(),
                ));
            }
            Ok(())
        })
        .await
        .map_err(|e| CloneError::builtin("copy the source database", e))?
    }
}
