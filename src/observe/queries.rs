//! Every SQL statement the observers run, in one place, with bind parameters. The
//! statement statistics leave these out by exact text, so observation never shows up as
//! the migration's own work.

pub const DATABASE_SIZE: &str = "SELECT pg_database_size(current_database())";

pub const BACKEND_PID: &str = "SELECT pg_backend_pid()";

/// Every other client session on the database but the pids in `$1` (the observers').
pub const TERMINATE_OTHERS: &str = "SELECT count(pg_terminate_backend(pid)) \
     FROM pg_stat_activity \
     WHERE datname = current_database() AND backend_type = 'client backend' \
     AND pid <> ALL($1::int4[])";

/// The `lock_timeout` a fresh session of the migration's role starts with.
pub const LOCK_TIMEOUT: &str = "SELECT current_setting('lock_timeout')";

/// Bytes written to temporary files by the database's sessions so far (a backend
/// reports its share when it ends).
pub const TEMP_BYTES: &str =
    "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()";

/// Client sessions on the database other than the pids in `$1` (the observers').
pub const OTHER_SESSIONS: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND backend_type = 'client backend' \
     AND pid <> ALL($1::int4[])";

pub const WAL_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8";

pub const RESET_STATEMENTS: &str = "SELECT pg_stat_statements_reset()";

pub const STATEMENTS: &str =
    "SELECT query, calls, total_exec_time, mean_exec_time, max_exec_time, rows \
     FROM pg_stat_statements \
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel \
     ORDER BY total_exec_time DESC";

/// [`STATEMENTS`] for a server of `major`: before 14 pg_stat_statements has no
/// `toplevel` column (and with its default `track = top` keeps only top-level ones).
pub fn statements_for(major: Option<u32>) -> std::borrow::Cow<'static, str> {
    match major {
        Some(m) if m < 14 => STATEMENTS.replace(" AND toplevel", "").into(),
        _ => STATEMENTS.into(),
    }
}

pub const LOCKS: &str = "SELECT l.pid, l.relation::int8, l.mode, \
            coalesce(c.relname::text, l.relation::regclass::text), coalesce(c.relkind::text, '') \
     FROM pg_locks l \
     LEFT JOIN pg_class c ON c.oid = l.relation \
     WHERE l.locktype = 'relation' AND l.granted AND l.pid = ANY($1) \
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND coalesce(c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pg_toast'::regnamespace, \
                                            'information_schema'::regnamespace), true)";

/// True for the observers', the traffic's and the bridge's own statements. Compared by fingerprint,
/// because pg_stat_statements stores them with their constants replaced by `$n`; the
/// bridge's transaction commands by their marked text.
pub fn is_own(query: &str) -> bool {
    if crate::bridge::autocommit::is_own(query)
        || query.trim_start().starts_with(super::traffic::MARKER)
    {
        return true;
    }
    static OWN: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    let own = OWN.get_or_init(|| {
        [
            DATABASE_SIZE,
            BACKEND_PID,
            TERMINATE_OTHERS,
            crate::trace::reader::SESSION_LOCKS,
            crate::trace::reader::IN_SESSION_LOCKS,
            WAL_LSN,
            TEMP_BYTES,
            OTHER_SESSIONS,
            LOCK_TIMEOUT,
            RESET_STATEMENTS,
            STATEMENTS,
            LOCKS,
        ]
        .iter()
        .filter_map(|q| pg_query::fingerprint(q, 0, 0).ok().map(|f| f.value))
        .collect()
    });
    pg_query::fingerprint(query, 0, 0).is_ok_and(|f| own.contains(&f.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_statements_are_recognised_after_normalization() {
        let stored = LOCKS.replace("'relation'", "$3").replace("true)", "$7)");
        assert!(is_own(&stored));
        assert!(is_own(DATABASE_SIZE));
        assert!(!is_own("SELECT * FROM pg_locks"));
        assert!(!is_own("UPDATE accounts SET plan = $1"));
    }
}
