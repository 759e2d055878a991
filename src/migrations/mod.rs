//! The MR's migrations: finding them in the checkout ([`layout`]), choosing the ones
//! the MR adds ([`selection`]), and rendering templated ones ([`template`]).
//!
//! A [`Migration`] carries the SQL to run, read from a git blob at the MR's head. The rehearsal decides *how* it runs (a `psql`
//! file today, a framework command later), so a `command` mode can be added without
//! changing discovery.

pub mod layout;
pub mod opt_out;
pub mod selection;
pub mod template;

pub use layout::{discover, discover_new, Layout};
pub use selection::{applied_at, base_commit};

/// One migration as found at the MR's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The entry's name in the migrations directory (file or directory name): the
    /// identity used to compare with the merge base, and the name shown in reports.
    pub entry: String,
    /// The version part used for ordering (`0007`, `7.1`, `2024-01-01-000000`).
    pub version: String,
    /// Path of the SQL file in the repository.
    pub path: String,
    /// The bytes to apply (for dbmate files, only the `-- migrate:up` section), as they
    /// are: a file that is not UTF-8 still reaches PostgreSQL, which decides.
    pub bytes: Vec<u8>,
    /// The same as text (invalid UTF-8 shown as U+FFFD), for the words of the gate.
    pub sql: String,
    /// The file had dbmate's `-- migrate:up` / `-- migrate:down` sections.
    pub sectioned: bool,
    /// The file (or diesel's `metadata.toml`) opts out of its tool's transaction.
    pub no_transaction: bool,
    /// The way back, where the layout has one.
    pub down: Option<Down>,
    /// Command mode: the version before this one, which the tool's way back returns to
    /// (alembic's `down_revision` or `base`, Django's previous migration or `zero`).
    pub previous: Option<String>,
}

/// A migration's way back: diesel's `down.sql`, golang-migrate's and sqlx's `.down.sql`
/// beside the `.up.sql`, or dbmate's `-- migrate:down` section of the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// Path of the file in the repository.
    pub path: String,
    pub bytes: Vec<u8>,
    /// The same as text, for the words of the gate.
    pub sql: String,
}

impl Migration {
    /// The name shown in reports: the entry without its `.sql` / `.up.sql` / `.py` suffix.
    pub fn name(&self) -> &str {
        self.entry
            .strip_suffix(".up.sql")
            .or_else(|| self.entry.strip_suffix(".sql"))
            .or_else(|| self.entry.strip_suffix(".py"))
            .unwrap_or(&self.entry)
    }
}
