//! PostgreSQL's table lock modes and what each one blocks for an application's ordinary
//! statements (see shared/reference/dangers.md, "Lock modes and what they block").

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// Every mode, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// Parses `pg_locks.mode` (`AccessExclusiveLock`, ...).
    pub fn from_pg(mode: &str) -> Option<LockMode> {
        Some(match mode {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    /// The SQL name, as in `LOCK TABLE ... IN <name> MODE`.
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Blocks a plain `SELECT` (ACCESS SHARE).
    pub fn blocks_reads(self) -> bool {
        self == LockMode::AccessExclusive
    }

    /// Blocks `INSERT/UPDATE/DELETE` (ROW EXCLUSIVE).
    pub fn blocks_writes(self) -> bool {
        self >= LockMode::Share
    }

    /// What the application notices: "reads and writes", "writes", or nothing.
    pub fn blocks(self) -> Option<&'static str> {
        if self.blocks_reads() {
            Some("reads and writes")
        } else if self.blocks_writes() {
            Some("writes")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_mode_blocks() {
        assert_eq!(
            LockMode::from_pg("ShareLock").unwrap().blocks(),
            Some("writes")
        );
        assert_eq!(LockMode::AccessExclusive.blocks(), Some("reads and writes"));
        assert_eq!(LockMode::ShareUpdateExclusive.blocks(), None);
        assert_eq!(LockMode::RowExclusive.blocks(), None);
        assert!(LockMode::from_pg("SIReadLock").is_none());
    }
}
