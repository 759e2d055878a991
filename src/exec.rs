//! How a migration executes in the box: its file (and its down's) staged read-only
//! under a safe name, the command that applies it the way its tool does (psql's
//! autocommit, one transaction, or the whole file as one query), and the box's whole
//! environment, which names the socket and nothing secret. Command mode's project files
//! are written with the same helpers ([`crate::tools::command::write_project`]).

use crate::migrations::Migration;
use crate::model::tool::{Tool, Transaction};
use crate::sandbox::{MIGRATIONS_MOUNT, SOCKET_MOUNT};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The role the migrations run as on the clone.
pub const MIGRATION_USER: &str = "preflight";

fn staged_name(index: usize, m: &Migration) -> String {
    let safe: String = m
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:03}_{safe}.sql", index + 1)
}

/// Larger files cannot be one command-line argument (Linux's 128 KiB per argument), so
/// a one-query file this large runs as one explicit transaction instead.
const ONE_QUERY_MAX_BYTES: usize = 120 * 1024;

/// How `m` will really run: its tool's way, unless it cannot be done in the box.
pub(crate) fn transaction_for(tool: Tool, m: &Migration) -> Transaction {
    match tool.transaction(m) {
        Transaction::OneQuery if m.bytes.len() > ONE_QUERY_MAX_BYTES => Transaction::WholeFile,
        t => t,
    }
}

/// The command that applies one staged migration file inside the box, the way its tool
/// does: psql's autocommit, one transaction (`--single-transaction`), or the whole file
/// sent as one query (`-c`, which PostgreSQL runs as one implicit transaction).
pub(crate) fn migration_command(staged: &str, transaction: Transaction) -> Vec<String> {
    let file = format!("{MIGRATIONS_MOUNT}/{staged}");
    let psql = ["psql", "-X", "-v", "ON_ERROR_STOP=1"].map(String::from);
    match transaction {
        Transaction::PerStatement => psql.into_iter().chain(["-f".into(), file]).collect(),
        Transaction::WholeFile => psql
            .into_iter()
            .chain(["--single-transaction".into(), "-f".into(), file])
            .collect(),
        Transaction::OneQuery => vec![
            "sh".into(),
            "-c".into(),
            format!("exec {} -c \"$(cat \"$1\")\"", psql.join(" ")),
            "sh".into(),
            file,
        ],
    }
}

/// The box's whole environment: where the socket is, and nothing secret.
pub(crate) fn box_env(db_name: &str) -> Vec<String> {
    vec![
        format!("PGHOST={SOCKET_MOUNT}"),
        format!("PGUSER={MIGRATION_USER}"),
        format!("PGDATABASE={db_name}"),
        "PGAPPNAME=preflight-migration".into(),
        // The same socket as a URL, for tools that take one (SQLAlchemy, Prisma, ...).
        format!("DATABASE_URL=postgresql://{MIGRATION_USER}@/{db_name}?host={SOCKET_MOUNT}"),
        // The project is mounted read-only: Python must not try to cache bytecode there.
        "PYTHONDONTWRITEBYTECODE=1".into(),
        "HOME=/tmp".into(),
    ]
}

/// A file or directory the box needs could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {path}: {source}")]
pub struct StageError {
    /// `create`, `write`, `set permissions on`.
    what: &'static str,
    path: String,
    #[source]
    source: std::io::Error,
}

fn failed(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StageError {
    let path = path.display().to_string();
    move |source| StageError { what, path, source }
}

/// Creates `path` (and its parents) with `mode`.
pub(crate) fn mkdir(path: &Path, mode: u32) -> Result<(), StageError> {
    std::fs::create_dir_all(path).map_err(failed("create", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(failed("set permissions on", path))
}

/// The staged name of the down of the migration staged as `up`.
pub(crate) fn down_staged(up: &str) -> String {
    format!("{}.down.sql", up.trim_end_matches(".sql"))
}

/// Writes a file the box's user may read (0644).
pub(crate) fn write_staged(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    std::fs::write(path, bytes).map_err(failed("write", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .map_err(failed("set permissions on", path))
}

/// Writes each migration's SQL (and its down's) where the box will see it, read-only.
pub(crate) fn stage(dir: &Path, migrations: &[Migration]) -> Result<Vec<String>, StageError> {
    mkdir(dir, 0o755)?;
    migrations
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let name = staged_name(i, m);
            write_staged(&dir.join(&name), &m.bytes)?;
            if let Some(down) = &m.down {
                write_staged(&dir.join(down_staged(&name)), &down.bytes)?;
            }
            Ok(name)
        })
        .collect()
}
