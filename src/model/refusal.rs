//! A file of the MR that breaks a rule, so that nothing runs: which file, which rule. The
//! MR's author cannot open the protected job, so the note says it (through the gate, the
//! path only where it is plain text).

/// Why a file of the MR is refused: a rule the MR's author can fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A symbolic link where a migration is read.
    Link,
    /// A submodule where a migration is read.
    Submodule,
    /// A directory, or a git mode preflight does not read, where a migration file is read.
    NotAFile,
    /// Over `box.max_migration_bytes`.
    TooLarge,
    /// Its `preflight:batched` declaration cannot be used.
    Declaration,
    /// A templated migration preflight cannot render with the configured values.
    Template,
    /// A declared query preflight does not plan (not one SELECT, INSERT, UPDATE or
    /// DELETE, too long, too many, not parsed); the path is empty for the MR's description.
    Query,
    /// A second migration with a version another one has.
    DuplicateVersion,
    /// A command-mode migration the tool cannot name (an alembic file without a
    /// `revision`, a Django migration whose name is not one).
    Unnamed,
    /// New alembic revisions that branch, or do not follow one another.
    History,
    /// A command-mode project past the files or bytes the job writes for the box.
    ProjectTooLarge,
}

/// One refused file of the MR, for its author: which file, which rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub path: String,
    pub rule: Rule,
}
