//! How a database's migrations are written and run, as report.json names it: the layout
//! of their files, the tool whose transactions the rehearsal reproduces, how one file
//! reaches the server, and the tool command mode runs. What each means and how it is
//! chosen lives with the code that does it ([`crate::tools`], [`crate::migrations`]).

use serde::{Deserialize, Serialize};

/// How the migrations directory is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Numbered,
    Flyway,
    Directory,
}

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

/// A migration tool run by command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandTool {
    Alembic,
    Django,
}

impl CommandTool {
    /// Its name in configuration and reports.
    pub fn id(self) -> &'static str {
        match self {
            CommandTool::Alembic => "alembic",
            CommandTool::Django => "django",
        }
    }
}
