//! A data source's connection string without its password. `pg_dump` and
//! `pg_basebackup` take the source as an argument, and arguments are readable by every
//! local user (`/proc/<pid>/cmdline`), so the password is taken out here and handed to
//! that one child as `PGPASSWORD`. Both libpq forms are understood: URLs
//! (`postgresql://user:pw@host/db?password=pw`) and `key=value` strings
//! (`host=h password='p w'`).

use crate::secret::Secret;

/// `conn` with its password removed, and the password.
pub fn split_password(conn: &str) -> (String, Option<Secret>) {
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        split_url(conn)
    } else {
        split_key_values(conn)
    }
}

fn split_url(conn: &str) -> (String, Option<Secret>) {
    let Ok(mut url) = url::Url::parse(conn) else {
        return (conn.to_string(), None);
    };
    let mut password = url.password().map(percent_decode).filter(|p| !p.is_empty());
    let _ = url.set_password(None);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| k == "password") {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            if k == "password" {
                password = Some(v.clone());
            } else {
                query.append_pair(k, v);
            }
        }
        let query = query.finish();
        url.set_query((!query.is_empty()).then_some(query.as_str()));
    }
    (url.to_string(), password.map(Secret::new))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Splits `key = value` pairs; values may be single-quoted with `\'` and `\\` escapes.
fn split_key_values(conn: &str) -> (String, Option<Secret>) {
    let mut kept = Vec::new();
    let mut password = None;
    let mut chars = conn.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '=') {
            chars.next();
        }
        let mut raw = String::new();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push(chars.next().unwrap());
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw.push(n);
                            value.push(n);
                        }
                    }
                    '\'' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                raw.push(c);
                value.push(c);
                chars.next();
            }
        }
        if key == "password" {
            password = Some(Secret::new(value));
        } else {
            kept.push(format!("{key}={raw}"));
        }
    }
    (kept.join(" "), password)
}

#[cfg(test)]
mod tests {
    use super::split_password;

    fn split(conn: &str) -> (String, Option<String>) {
        let (rest, pw) = split_password(conn);
        (rest, pw.map(|p| p.expose().to_string()))
    }

    #[test]
    fn urls_lose_the_password_in_userinfo_and_query() {
        assert_eq!(
            split("postgresql://app:s%40cret@db.internal:5433/app?sslmode=require"),
            (
                "postgresql://app@db.internal:5433/app?sslmode=require".into(),
                Some("s@cret".into())
            )
        );
        assert_eq!(
            split("postgres:///app?host=/run/pg&password=pw&user=u"),
            (
                "postgres:///app?host=%2Frun%2Fpg&user=u".into(),
                Some("pw".into())
            )
        );
        assert_eq!(
            split("postgresql://h/db"),
            ("postgresql://h/db".into(), None)
        );
    }

    #[test]
    fn key_values_lose_the_password_quoted_or_not() {
        assert_eq!(
            split("host=h port=5432 password=pw user=replicator"),
            ("host=h port=5432 user=replicator".into(), Some("pw".into()))
        );
        assert_eq!(
            split("host=h password = 'p w\\'x' dbname='my db'"),
            ("host=h dbname='my db'".into(), Some("p w'x".into()))
        );
    }
}
