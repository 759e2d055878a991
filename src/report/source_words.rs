//! The words of the MR's own migration source: the only names the public summary may
//! show. A statement's normalized text is shown only when every identifier in it is
//! such a word or a built-in function name.

use std::collections::HashSet;

/// Type and function names that may appear in normalized statements although the MR's
/// source does not spell them out.
const BUILTIN_NAMES: &[&str] = &[
    "text",
    "int",
    "int4",
    "int8",
    "bigint",
    "integer",
    "numeric",
    "bool",
    "boolean",
    "jsonb",
    "json",
    "uuid",
    "timestamptz",
    "timestamp",
    "date",
    "interval",
    "now",
    "count",
    "coalesce",
    "lower",
    "upper",
    "length",
    "sum",
    "min",
    "max",
    "avg",
    "pg_sleep",
    "generate_series",
    "random",
    "md5",
    "row_number",
];

/// The words of the MR's migration source: the only names the summary may show.
#[derive(Debug, Default, Clone)]
pub struct SourceWords(HashSet<String>);

impl SourceWords {
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = &'a str>) -> Self {
        let mut words = HashSet::new();
        for text in sources {
            for w in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
                if !w.is_empty() {
                    words.insert(w.to_string());
                    words.insert(w.to_lowercase());
                }
            }
        }
        SourceWords(words)
    }

    pub fn knows(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// A file path of plain characters (letters, digits, `_ . / -`) whose every word is
    /// a source word: safe to show as a location.
    pub fn knows_path(&self, path: &str) -> bool {
        !path.is_empty()
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
            && path
                .split(['/', '.', '-'])
                .filter(|w| !w.is_empty())
                .all(|w| self.knows(w))
    }

    /// Every identifier in `sql` is a source word or a built-in name.
    pub(crate) fn covers(&self, sql: &str) -> bool {
        let Ok(scan) = pg_query::scan(sql) else {
            return false;
        };
        scan.tokens
            .iter()
            .filter(|t| t.token == pg_query::protobuf::Token::Ident as i32)
            .all(|t| {
                let word = sql
                    .get(t.start as usize..t.end as usize)
                    .unwrap_or("")
                    .trim_matches('"');
                self.knows(word) || BUILTIN_NAMES.contains(&word.to_lowercase().as_str())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_words_cover_only_known_identifiers() {
        let p = SourceWords::from_sources(["db/migrations/0003_x/up.sql", "SELECT 1"]);
        assert!(p.knows_path("db/migrations/0003_x/up.sql"));
        assert!(!p.knows_path("db/migrations/0003_y/up.sql"));
        assert!(!p.knows_path("db/migrations/0003_x/up.sql`"));
        let w = SourceWords::from_sources(["UPDATE Accounts SET region = 'x'"]);
        assert!(w.knows("accounts") && w.knows("Accounts") && w.knows("region"));
        assert!(!w.knows("secret_table"));
        assert!(!w.covers("UPDATE accounts SET region = $1 WHERE id > $2::bigint"));
        let w = SourceWords::from_sources(["UPDATE accounts SET region = 'x' WHERE id > 5"]);
        assert!(w.covers("UPDATE accounts SET region = $1 WHERE id > $2::bigint"));
        assert!(!w.covers("SELECT * FROM secret_table WHERE id = $1"));
    }
}
