//! Request bodies: parsed by hand (not by axum's extractor) so that a malformed body or
//! a missing field gets a `400` naming the field, in DLE's error shape.

use crate::engine::lifecycle::{CreateClone, ResetTarget};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Deserialize)]
struct CreateBody {
    id: Option<String>,
    snapshot: Option<SnapshotRef>,
    #[serde(default)]
    protected: bool,
    db: DbBody,
}

#[derive(Deserialize)]
struct SnapshotRef {
    id: String,
}

#[derive(Deserialize)]
struct DbBody {
    username: String,
    password: String,
    #[serde(default)]
    restricted: bool,
    db_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResetBody {
    #[serde(rename = "snapshotID")]
    snapshot_id: Option<String>,
    #[serde(default)]
    latest: bool,
}

#[derive(Deserialize)]
struct PatchBody {
    protected: bool,
}

/// Parses JSON, naming the field at fault: "missing field db.password".
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the request body is empty; send a JSON object".into());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
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
    })
}

pub fn create(body: &[u8]) -> Result<CreateClone, String> {
    let b: CreateBody = parse(body)?;
    Ok(CreateClone {
        id: b.id,
        snapshot_id: b.snapshot.map(|s| s.id),
        protected: b.protected,
        username: b.db.username,
        password: Secret::new(b.db.password),
        restricted: b.db.restricted,
        db_name: b.db.db_name,
    })
}

pub fn reset(body: &[u8]) -> Result<ResetTarget, String> {
    let b: ResetBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResetBody::default()
    } else {
        parse(body)?
    };
    match (b.snapshot_id, b.latest) {
        (Some(_), true) => Err("give either snapshotID or latest, not both".into()),
        (Some(id), false) => Ok(ResetTarget::Snapshot(id)),
        (None, true) => Ok(ResetTarget::Latest),
        (None, false) => Ok(ResetTarget::Own),
    }
}

pub fn patch(body: &[u8]) -> Result<bool, String> {
    parse::<PatchBody>(body).map(|b| b.protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named_with_their_path() {
        let e = create(br#"{"id":"x","db":{"username":"u"}}"#).unwrap_err();
        assert_eq!(e, "missing field db.password");
        let e = create(br#"{"id":"x"}"#).unwrap_err();
        assert_eq!(e, "missing field db");
        let e = create(br#"{"db": {"username": 5, "password": "p"}}"#).unwrap_err();
        assert!(e.starts_with("invalid field db.username"), "{e}");
        let e = create(b"{not json").unwrap_err();
        assert!(e.starts_with("malformed JSON"), "{e}");
        assert!(create(b"").unwrap_err().contains("empty"));
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
    }
}
