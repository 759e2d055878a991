//! Request bodies: parsed by hand (not by axum's extractor) so that a malformed body or
//! a missing field gets a `400` naming the field, in DLE's error shape.

use crate::dle_api::{self, blank};
use crate::engine::lifecycle::{CreateClone, ResetTarget};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A request body the API refuses (`400`), saying what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadBody(pub String);

impl From<&str> for BadBody {
    fn from(message: &str) -> Self {
        BadBody(message.to_string())
    }
}

impl From<String> for BadBody {
    fn from(message: String) -> Self {
        BadBody(message)
    }
}

/// Parses JSON, naming the field at fault: "missing field db.password".
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the request body is empty; send a JSON object".into());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| -> BadBody {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let inner = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        let root = path == "." || path == "?";
        let prefix = if root {
            String::new()
        } else {
            format!("{path}.")
        };
        match inner.strip_prefix("missing field `") {
            Some(rest) => format!(
                "missing field {prefix}{}",
                rest.split('`').next().unwrap_or_default()
            ),
            None if root => format!("malformed JSON: {inner}"),
            None => format!("invalid field {path}: {inner}"),
        }
        .into()
    })
}

/// DLE's zero values mean "not given": `"id":""` asks for a generated id,
/// `"snapshot":{"id":""}` for the newest snapshot, `"db_name":""` for the default database.
pub fn create(body: &[u8]) -> Result<CreateClone, BadBody> {
    let b: dle_api::CreateCloneRequest = parse(body)?;
    let db = b.db.ok_or("missing field db")?;
    Ok(CreateClone {
        id: blank(&b.id).map(str::to_string),
        snapshot_id: b.snapshot.and_then(|s| blank(&s.id).map(str::to_string)),
        protected: b.protection.protected,
        protection_minutes: b.protection.protection_duration_minutes,
        username: db.username,
        password: Secret::new(db.password),
        restricted: db.restricted,
        db_name: blank(&db.db_name).map(str::to_string),
        extra_conf: checked_extra_conf(b.extra_conf.unwrap_or_default())?,
        branch: blank(&b.branch).map(str::to_string),
    })
}

/// `snapshotID: ""` is no snapshot: the clone's own, or the newest with `latest`.
pub fn reset(body: &[u8]) -> Result<ResetTarget, BadBody> {
    let b: dle_api::ResetCloneRequest = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        parse(body)?
    };
    match (blank(&b.snapshot_id), b.latest) {
        (Some(_), true) => Err("give either snapshotID or latest, not both".into()),
        (Some(id), false) => Ok(ResetTarget::Snapshot(id.to_string())),
        (None, true) => Ok(ResetTarget::Latest),
        (None, false) => Ok(ResetTarget::Own),
    }
}

/// `PATCH /clone/{id}`: protection, and for how many minutes (absent: the default lease).
pub fn patch(body: &[u8]) -> Result<(bool, Option<u64>), BadBody> {
    parse::<dle_api::Protection>(body).map(|b| (b.protected, b.protection_duration_minutes))
}

/// Settings a clone may carry: each changes only how that clone's own server plans and
/// runs statements, none reaches the host or other clones (no file paths, libraries,
/// ports, or memory the server takes at start).
pub const SAFE_EXTRA_CONF: &[&str] = &[
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "work_mem",
    "maintenance_work_mem",
    "temp_buffers",
    "random_page_cost",
    "seq_page_cost",
    "effective_cache_size",
    "effective_io_concurrency",
    "default_statistics_target",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "jit",
    "enable_seqscan",
    "enable_indexscan",
    "enable_bitmapscan",
    "enable_hashjoin",
    "enable_mergejoin",
    "enable_nestloop",
    "log_min_duration_statement",
    "log_lock_waits",
    "deadlock_timeout",
    "timezone",
    "datestyle",
];

/// Refuses any key not in [`SAFE_EXTRA_CONF`], naming it; values are plain text.
fn checked_extra_conf(conf: BTreeMap<String, String>) -> Result<Vec<(String, String)>, BadBody> {
    conf.into_iter()
        .map(|(k, v)| {
            let key = k.to_ascii_lowercase();
            if !SAFE_EXTRA_CONF.contains(&key.as_str()) {
                return Err(BadBody(format!(
                    "extra_conf {k:?} is not a per-clone setting this engine applies; allowed: {}",
                    SAFE_EXTRA_CONF.join(", ")
                )));
            }
            let plain = v.len() <= 64
                && !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " ._-+:/".contains(c));
            if !plain {
                return Err(BadBody(format!(
                    "extra_conf {k:?}: the value {v:?} is not a plain setting value (at most 64 \
                     letters, digits, spaces and ._-+:/)"
                )));
            }
            Ok((key, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named_with_their_path() {
        let e = create(br#"{"id":"x","db":{"username":"u"}}"#)
            .unwrap_err()
            .0;
        assert_eq!(e, "missing field db.password");
        let e = create(br#"{"id":"x"}"#).unwrap_err().0;
        assert_eq!(e, "missing field db");
        let e = create(br#"{"id":"x","db":null}"#).unwrap_err().0;
        assert_eq!(e, "missing field db");
        let e = create(br#"{"db": {"username": 5, "password": "p"}}"#)
            .unwrap_err()
            .0;
        assert!(e.starts_with("invalid field db.username"), "{e}");
        let e = create(b"{not json").unwrap_err().0;
        assert!(e.starts_with("malformed JSON"), "{e}");
        assert!(create(b"").unwrap_err().0.contains("empty"));
    }

    #[test]
    fn reset_takes_one_target() {
        assert_eq!(reset(b"").unwrap(), ResetTarget::Own);
        assert_eq!(reset(b"{}").unwrap(), ResetTarget::Own);
        assert_eq!(reset(br#"{"latest":true}"#).unwrap(), ResetTarget::Latest);
        assert_eq!(
            reset(br#"{"snapshotID":"s1"}"#).unwrap(),
            ResetTarget::Snapshot("s1".into())
        );
        assert!(reset(br#"{"snapshotID":"s1","latest":true}"#).is_err());
        // What dblab clone reset sends, with and without --latest.
        assert_eq!(
            reset(br#"{"snapshotID":"","latest":false}"#).unwrap(),
            ResetTarget::Own
        );
        assert_eq!(
            reset(br#"{"snapshotID":"","latest":true}"#).unwrap(),
            ResetTarget::Latest
        );
    }

    #[test]
    fn zero_values_mean_absent() {
        let go = br#"{"id":"","protected":false,"db":{"username":"ci_alice-smith","password":"p","restricted":true,"db_name":""},"snapshot":{"id":""},"extra_conf":{},"branch":""}"#;
        let c = create(go).unwrap();
        assert_eq!(c.id, None);
        assert_eq!(c.snapshot_id, None);
        assert_eq!(c.db_name, None);
        assert!(c.extra_conf.is_empty());
        assert_eq!(c.username, "ci_alice-smith");
    }

    #[test]
    fn extra_conf_takes_safe_settings_only() {
        let body = |conf: &str| {
            format!(r#"{{"db":{{"username":"u","password":"p"}},"extra_conf":{conf}}}"#)
        };
        let c = create(body(r#"{"statement_timeout":"5s","work_mem":"64MB"}"#).as_bytes()).unwrap();
        assert_eq!(
            c.extra_conf,
            vec![
                ("statement_timeout".into(), "5s".into()),
                ("work_mem".into(), "64MB".into())
            ]
        );
        for (conf, named) in [
            (
                r#"{"shared_preload_libraries":"x"}"#,
                "shared_preload_libraries",
            ),
            (r#"{"archive_command":"curl x"}"#, "archive_command"),
            (r#"{"work_mem":"1MB'; x"}"#, "work_mem"),
        ] {
            let e = create(body(conf).as_bytes()).unwrap_err().0;
            assert!(e.contains(named), "{conf}: {e}");
        }
    }
}
