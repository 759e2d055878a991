//! A batched background migration, as a migration declares it: a block of comment lines
//! (`--` in SQL, `#` in Python) that starts with `preflight:batched` and holds YAML:
//!
//! ```sql
//! -- preflight:batched
//! -- table: orders
//! -- key: id
//! -- batch_size: 10000
//! -- pause: 100ms
//! -- statement: UPDATE orders SET total_cents = total * 100 WHERE id >= :start AND id < :end
//! ```
//!
//! The statement is the MR's SQL, so hostile: after `:start` and `:end` become bound
//! `int8` parameters it must be one INSERT, UPDATE or DELETE (or SELECT), and the table
//! and key are quoted as identifiers wherever they are used.

pub use crate::model::batched::Batched;

/// The line that opens a declaration.
const OPENING: &str = "preflight:batched";

fn comment_body(line: &str) -> Option<&str> {
    let t = line.trim_start();
    t.strip_prefix("--")
        .or_else(|| t.strip_prefix('#'))
        .map(|b| b.strip_prefix(' ').unwrap_or(b))
}

/// Why a `preflight:batched` declaration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    #[error("the preflight:batched declaration does not read")]
    Unreadable(#[source] serde_yaml::Error),
    #[error("the preflight:batched declaration needs a batch_size above 0")]
    NoBatchSize,
    #[error("the preflight:batched statement is refused")]
    Statement(#[source] crate::source::queries::NotPlanned),
}

/// The declaration in a migration's source, if it has one.
pub fn find(source: &str) -> Result<Option<Batched>, DeclarationError> {
    let mut lines = source.lines();
    let Some(_) = lines.find(|l| comment_body(l).is_some_and(|b| b.trim() == OPENING)) else {
        return Ok(None);
    };
    let yaml: Vec<&str> = lines.map_while(comment_body).collect();
    let b: Batched =
        serde_yaml::from_str(&yaml.join("\n")).map_err(DeclarationError::Unreadable)?;
    if b.batch_size == 0 {
        return Err(DeclarationError::NoBatchSize);
    }
    crate::source::queries::check(&b.bound_statement()).map_err(DeclarationError::Statement)?;
    Ok(Some(b))
}

/// An identifier quoted for SQL (`a.b` as `"a"."b"`).
pub fn quoted(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

impl Batched {
    /// The statement with `:start` and `:end` as `$1::int8` and `$2::int8`.
    pub fn bound_statement(&self) -> String {
        let mut out = String::new();
        let mut rest = self.statement.as_str();
        while let Some(at) = rest.find(':') {
            let (head, tail) = rest.split_at(at);
            out.push_str(head);
            let cast = head.ends_with(':') || tail.starts_with("::");
            let word: String = tail[1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            match word.as_str() {
                "start" if !cast => out.push_str("($1::int8)"),
                "end" if !cast => out.push_str("($2::int8)"),
                _ => {
                    out.push(':');
                    rest = &tail[1..];
                    continue;
                }
            }
            rest = &tail[1 + word.len()..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SQL: &str = "ALTER TABLE orders ADD COLUMN cents bigint;\n\
        -- preflight:batched\n\
        -- table: orders\n\
        -- key: id\n\
        -- batch_size: 10000\n\
        -- pause: 100ms\n\
        -- statement: UPDATE orders SET cents = total::bigint * 100 WHERE id >= :start AND id < :end\n\
        SELECT 1;\n";

    #[test]
    fn a_declaration_is_read_from_its_comment_block() {
        let b = find(SQL).unwrap().unwrap();
        assert_eq!((b.table.as_str(), b.batch_size), ("orders", 10000));
        assert_eq!(b.pause, Duration::from_millis(100));
        assert_eq!(
            b.bound_statement(),
            "UPDATE orders SET cents = total::bigint * 100 WHERE id >= ($1::int8) AND id < ($2::int8)"
        );
        let python = "# preflight:batched\n# table: t\n# key: id\n# batch_size: 5\n# statement: DELETE FROM t WHERE id >= :start AND id < :end\n";
        assert_eq!(find(python).unwrap().unwrap().table, "t");
        assert!(find("SELECT 1").unwrap().is_none());
        assert_eq!(quoted("app.Or\"ders"), "\"app\".\"Or\"\"ders\"");
    }

    #[test]
    fn a_statement_that_is_not_one_data_statement_is_refused() {
        let bad = SQL.replace("UPDATE orders SET", "DROP TABLE orders; UPDATE orders SET");
        assert!(
            matches!(find(&bad).unwrap_err(), DeclarationError::Statement(_)),
            "{bad}"
        );
        let zero = SQL.replace("batch_size: 10000", "batch_size: 0");
        assert!(find(&zero).is_err());
    }
}
