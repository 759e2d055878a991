//! The in-session lock report: an event trigger on `ddl_command_end` that raises a
//! notice carrying the session's relation locks, the file node of each locked relation
//! and the `lock_timeout` in force. It runs inside the DDL's own transaction, so it sees
//! locks an autocommit statement releases a moment later. The bridge takes the notice
//! out of the stream ([`decode`]); the box never sees it.
//!
//! Installing it needs a superuser; on a restricted clone the trace relies on the
//! boundary reads and the catalog diff instead. The function never raises (a failure
//! only loses the report), pins its `search_path`, and forces `client_min_messages` so a
//! migration's own setting cannot silence it. Its queries are nested, so
//! `pg_stat_statements` (tracking top-level statements) does not count them.

use super::HeldLock;
use crate::pg::lock_mode::LockMode;

/// What the notice's message starts with.
pub const MARKER: &str = "preflight:trace:";

/// Installs the trigger (idempotent); run by the observer before the first migration.
pub const INSTALL: &str = r#"
CREATE SCHEMA IF NOT EXISTS preflight_trace;
CREATE OR REPLACE FUNCTION preflight_trace.report_locks() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = notice
AS $fn$
DECLARE
    payload text;
BEGIN
    SELECT json_build_object(
        'lock_timeout', current_setting('lock_timeout'),
        'locks', coalesce(json_agg(json_build_array(l.relation::int8, l.mode, c.relfilenode::int8)), '[]'::json)
    )::text INTO payload
    FROM pg_locks l
    LEFT JOIN pg_class c ON c.oid = l.relation
    WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
      AND l.relation::int8 >= 16384
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
    RAISE NOTICE USING MESSAGE = 'preflight:trace:' || payload;
EXCEPTION WHEN OTHERS THEN
    NULL;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS preflight_trace_locks;
CREATE EVENT TRIGGER preflight_trace_locks ON ddl_command_end
    EXECUTE FUNCTION preflight_trace.report_locks();
"#;

/// What one notice reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockReport {
    pub lock_timeout: String,
    pub locks: Vec<HeldLock>,
}

#[derive(serde::Deserialize)]
struct Payload {
    lock_timeout: String,
    locks: Vec<(i64, String, Option<i64>)>,
}

/// The report in a notice's message, when it is one of ours.
pub fn decode(message: &str) -> Option<LockReport> {
    let json = message.strip_prefix(MARKER)?;
    let p: Payload = serde_json::from_str(json).ok()?;
    Some(LockReport {
        lock_timeout: p.lock_timeout,
        locks: p
            .locks
            .into_iter()
            .filter_map(|(oid, mode, relfilenode)| {
                Some(HeldLock {
                    oid,
                    mode: LockMode::from_pg(&mode)?,
                    relfilenode,
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_decoded_and_other_notices_are_not() {
        let r = decode(
            r#"preflight:trace:{"lock_timeout" : "0", "locks" : [[16390,"AccessExclusiveLock",16412],[16391,"ShareLock",null]]}"#,
        )
        .unwrap();
        assert_eq!(r.lock_timeout, "0");
        assert_eq!(r.locks.len(), 2);
        assert_eq!(r.locks[0].mode, LockMode::AccessExclusive);
        assert_eq!(r.locks[0].relfilenode, Some(16412));
        assert_eq!(decode("relation \"x\" already exists, skipping"), None);
    }
}
