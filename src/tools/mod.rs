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

use crate::migrations::Migration;
pub use crate::model::tool::{Layout, Tool, Transaction};

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
    fn a_file_that_opts_out_runs_without_its_tools_transaction() {
        let out = migration("1_a", false, true);
        assert_eq!(Tool::Diesel.transaction(&out), Transaction::PerStatement);
        assert_eq!(Tool::Flyway.transaction(&out), Transaction::WholeFile);
        assert_eq!(Tool::GolangMigrate.transaction(&out), Transaction::OneQuery);
    }
}
