//! DLE's timestamps (`models.LocalTime`): RFC 3339 out; in, RFC 3339 (fractions
//! allowed), DLE's legacy `2006-01-02 15:04:05 UTC`, or `""` and `null` for none, which
//! is what DLE's Go encoder writes for a zero time.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub type Time = Option<DateTime<Utc>>;

pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => s.serialize_none(),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse(t)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{t:?} is not an RFC 3339 time"))),
    }
}

/// An RFC 3339 time, or DLE's legacy form.
pub fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S UTC")
                .ok()
                .map(|n| n.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct T {
        #[serde(with = "super", default)]
        at: Time,
    }

    #[test]
    fn reads_every_form_dle_writes() {
        for (json, want) in [
            (
                r#"{"at":"2023-05-16T03:50:19Z"}"#,
                Some("2023-05-16T03:50:19Z"),
            ),
            (
                r#"{"at":"2023-05-16T03:50:19.123456+00:00"}"#,
                Some("2023-05-16T03:50:19Z"),
            ),
            (
                r#"{"at":"2023-05-16 03:50:19 UTC"}"#,
                Some("2023-05-16T03:50:19Z"),
            ),
            (r#"{"at":""}"#, None),
            (r#"{"at":null}"#, None),
            (r#"{}"#, None),
        ] {
            let t: T = serde_json::from_str(json).unwrap();
            let back = serde_json::to_value(&t).unwrap();
            assert_eq!(back["at"].as_str(), want, "{json}");
        }
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).is_err());
    }
}
