//! The migration tool a database's SQL migrations are written for, and how that tool
//! runs a file, so the rehearsal holds locks as long as production will:
//!
//! | tool | a file runs as | a file opts out with |
//! |---|---|---|
//! | psql | one transaction per statement (autocommit) | |
//! | diesel | one transaction | `run_in_transaction = false` in its `metadata.toml` |
//! | sqlx | one transaction | a first line `-- no-transaction` |
//! | golang-migrate | one multi-statement query (an implicit transaction) | |
//! | Flyway | one transaction, none for a file of statements that cannot run in one ([`flyway`]) | |
//! | dbmate | one transaction | `-- migrate:up transaction:false` |
//!
//! The tool comes from trusted configuration (`databases[].tool`) or, by default, from
//! the layout: a directory per migration is diesel's, `V1__x.sql` Flyway's, `.up.sql`
//! files golang-migrate's, files with `-- migrate:up` sections dbmate's, other numbered
//! files plain psql. sqlx shares golang-migrate's and psql's layouts, so it is named in
//! configuration.

pub mod command;
pub mod flyway;

use crate::migrations::{Layout, Migration};
use serde::{Deserialize, Serialize};

/// A migration tool whose transaction semantics the rehearsal reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    Psql,
    Diesel,
    Sqlx,
    GolangMigrate,
    Flyway,
    Dbmate,
}

/// How one file reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transaction {
    /// Statement by statement, each committed on its own.
    PerStatement,
    /// The whole file between BEGIN and COMMIT.
    WholeFile,
    /// The whole file as one query: PostgreSQL runs it as one implicit transaction.
    OneQuery,
}

impl Tool {
    /// Its name in configuration and reports.
    pub fn id(self) -> &'static str {
        match self {
            Tool::Psql => "psql",
            Tool::Diesel => "diesel",
            Tool::Sqlx => "sqlx",
            Tool::GolangMigrate => "golang_migrate",
            Tool::Flyway => "flyway",
            Tool::Dbmate => "dbmate",
        }
    }

    /// The configured tool, or the one the layout and files point to.
    pub fn choose(configured: Option<Tool>, layout: Layout, migrations: &[Migration]) -> Tool {
        configured.unwrap_or(match layout {
            Layout::Directory => Tool::Diesel,
            Layout::Flyway => Tool::Flyway,
            Layout::Numbered if migrations.iter().any(|m| m.sectioned) => Tool::Dbmate,
            Layout::Numbered if migrations.iter().any(|m| m.entry.ends_with(".up.sql")) => {
                Tool::GolangMigrate
            }
            Layout::Numbered => Tool::Psql,
        })
    }

    /// How this tool runs `m`.
    pub fn transaction(self, m: &Migration) -> Transaction {
        match self {
            Tool::Psql => Transaction::PerStatement,
            Tool::GolangMigrate => Transaction::OneQuery,
            Tool::Diesel | Tool::Sqlx | Tool::Dbmate if m.no_transaction => {
                Transaction::PerStatement
            }
            Tool::Flyway => flyway::transaction(&m.sql),
            Tool::Diesel | Tool::Sqlx | Tool::Dbmate => Transaction::WholeFile,
        }
    }
}

/// A file's own opt-out of its tool's transaction: sqlx's first line `-- no-transaction`,
/// dbmate's `-- migrate:up transaction:false`.
pub fn opts_out_in_file(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let first = text.lines().next().unwrap_or("").trim();
    first == "-- no-transaction"
        || text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("-- migrate:up"))
            .any(|l| l.split_whitespace().any(|w| w == "transaction:false"))
}

/// diesel's `metadata.toml` says `run_in_transaction = false`.
pub fn opts_out_in_metadata(toml: &[u8]) -> bool {
    String::from_utf8_lossy(toml).lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        key.trim() == "run_in_transaction" && value.trim() == "false"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(entry: &str, sectioned: bool, no_transaction: bool) -> Migration {
        Migration {
            entry: entry.into(),
            version: "1".into(),
            path: format!("m/{entry}"),
            bytes: vec![],
            sql: String::new(),
            sectioned,
            no_transaction,
            down: None,
            previous: None,
        }
    }

    #[test]
    fn the_layout_names_the_tool_unless_configuration_does() {
        let plain = [migration("1_a.sql", false, false)];
        let golang = [migration("1_a.up.sql", false, false)];
        let dbmate = [migration("1_a.sql", true, false)];
        let choose = |c, l, m: &[Migration]| Tool::choose(c, l, m);
        assert_eq!(choose(None, Layout::Numbered, &plain), Tool::Psql);
        assert_eq!(choose(None, Layout::Numbered, &golang), Tool::GolangMigrate);
        assert_eq!(choose(None, Layout::Numbered, &dbmate), Tool::Dbmate);
        assert_eq!(choose(None, Layout::Directory, &[]), Tool::Diesel);
        assert_eq!(choose(None, Layout::Flyway, &[]), Tool::Flyway);
        assert_eq!(
            choose(Some(Tool::Sqlx), Layout::Numbered, &plain),
            Tool::Sqlx
        );
    }

    #[test]
    fn files_opt_out_the_way_each_tool_reads_it() {
        assert!(opts_out_in_file(
            b"-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"
        ));
        assert!(!opts_out_in_file(b"SELECT 1;\n-- no-transaction\n"));
        assert!(opts_out_in_file(
            b"-- migrate:up transaction:false\nSELECT 1;\n-- migrate:down\n"
        ));
        assert!(!opts_out_in_file(
            b"-- migrate:up\nSELECT 1; -- transaction:false\n"
        ));
        assert!(opts_out_in_metadata(b"run_in_transaction = false\n"));
        assert!(!opts_out_in_metadata(
            b"# run_in_transaction = false\nrun_in_transaction = true"
        ));
        let out = migration("1_a", false, true);
        assert_eq!(Tool::Diesel.transaction(&out), Transaction::PerStatement);
        assert_eq!(Tool::Flyway.transaction(&out), Transaction::WholeFile);
        assert_eq!(Tool::GolangMigrate.transaction(&out), Transaction::OneQuery);
    }
}
