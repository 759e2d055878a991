//! The queries an MR asks to have planned before and after its migrations: a fenced
//! `sql` block under a heading that says "preflight queries" in the MR's description
//! (optionally naming the database: `## Preflight queries: ci`), or a file in the
//! repository that trusted configuration names (`databases[].queries.file`, read as a
//! git blob like a migration). Both are the MR's text, so hostile: each query must be
//! one SELECT, INSERT, UPDATE or DELETE, at most [`MAX_QUERIES`] of them, each at most
//! [`MAX_QUERY_BYTES`], and anything else is refused by name before it reaches a clone.

/// At most this many queries per database.
pub const MAX_QUERIES: usize = 20;
/// The longest query text accepted.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

pub use crate::config::sections::QueriesSection;
pub use crate::model::query::DeclaredQuery;

/// The `sql` blocks under "preflight queries" headings of `description` meant for
/// `database` (a heading naming no database is meant for `default_db`).
pub fn from_description(description: &str, database: &str, default_db: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut wanted = false;
    // The open fence's marker (```` ``` ```` or `~~~`, as long as it opened) and whether
    // its block is kept.
    let mut open: Option<(String, bool)> = None;
    let mut block = String::new();
    for line in description.lines() {
        let trimmed = line.trim();
        if let Some((marker, keep)) = &open {
            if trimmed.starts_with(marker.as_str())
                && trimmed.trim_start_matches(&marker[..1]).is_empty()
            {
                if *keep {
                    blocks.push(std::mem::take(&mut block));
                }
                open = None;
            } else if *keep {
                block.push_str(line);
                block.push('\n');
            }
            continue;
        }
        if let Some((marker, info)) = opening_fence(trimmed) {
            open = Some((marker, wanted && info.eq_ignore_ascii_case("sql")));
            block.clear();
        } else if let Some(heading) = trimmed.strip_prefix('#') {
            wanted = heading_wants(heading, database, default_db);
        }
    }
    blocks
}

/// Whether a heading's text (after its first `#`) declares queries for `database`.
fn heading_wants(heading: &str, database: &str, default_db: &str) -> bool {
    let title = heading.trim_start_matches('#').trim().to_ascii_lowercase();
    let Some(rest) = title.strip_prefix("preflight queries") else {
        return false;
    };
    let named = rest
        .trim_start_matches([':', ' ', '(', '-'])
        .trim_end_matches(')')
        .trim();
    if named.is_empty() {
        database == default_db
    } else {
        named.eq_ignore_ascii_case(database)
    }
}

/// A line that opens a fenced block: its marker and its info string.
fn opening_fence(line: &str) -> Option<(String, String)> {
    let c = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = line.chars().take_while(|x| *x == c).count();
    (run >= 3).then(|| (line[..run].to_string(), line[run..].trim().to_string()))
}

/// Where queries are declared when not in a file.
pub const DESCRIPTION: &str = "the MR description";

/// Why the declared queries cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum QueriesError {
    /// What the MR declares cannot be planned: its author's to fix. `origin` is the
    /// queries file's path, or [`DESCRIPTION`].
    #[error("{message}")]
    Refused { origin: String, message: String },
    /// The configured queries file cannot be read.
    #[error("{0}")]
    Unreadable(String),
}

/// Every query declared for `database`: the MR description's blocks (`default_db` is
/// the one a heading without a name means), then the configured file's, at most
/// [`MAX_QUERIES`] in all.
pub async fn declared(
    tree: &dyn super::SourceTree,
    description: Option<&str>,
    section: &QueriesSection,
    database: &str,
    default_db: &str,
) -> Result<Vec<DeclaredQuery>, QueriesError> {
    let refused = |origin: &str| {
        let origin = origin.to_string();
        move |message| QueriesError::Refused { origin, message }
    };
    let mut out = Vec::new();
    for block in from_description(description.unwrap_or_default(), database, default_db) {
        out.extend(
            parse(&block, DESCRIPTION, out.len() + 1)
                .map_err(|e| refused(DESCRIPTION)(crate::error_chain(&e)))?,
        );
    }
    let mut last_origin = DESCRIPTION;
    if let Some(path) = &section.file {
        let limit = (MAX_QUERIES * MAX_QUERY_BYTES) as u64;
        let bytes = super::file_at(tree, tree.head(), path, limit)
            .await
            .map_err(|e| QueriesError::Unreadable(e.to_string()))?
            .ok_or_else(|| {
                QueriesError::Unreadable(format!(
                    "the queries file {path} (databases[].queries.file) is not in the MR's tree"
                ))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| refused(path)(format!("the queries file {path} is not UTF-8")))?;
        out.extend(
            parse(&text, path, out.len() + 1).map_err(|e| refused(path)(crate::error_chain(&e)))?,
        );
        last_origin = path;
    }
    if out.len() > MAX_QUERIES {
        return Err(refused(last_origin)(format!(
            "{} queries are declared; at most {MAX_QUERIES} are planned",
            out.len()
        )));
    }
    Ok(out)
}

/// Why declared SQL is not planned.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the queries in {origin} do not parse")]
    Split {
        origin: String,
        #[source]
        source: pg_query::Error,
    },
    #[error("query {index} in {origin} is refused")]
    Query {
        index: usize,
        origin: String,
        #[source]
        why: NotPlanned,
    },
}

/// Why one query is not planned.
#[derive(Debug, thiserror::Error)]
pub enum NotPlanned {
    #[error("it is over {MAX_QUERY_BYTES} bytes")]
    TooLong,
    #[error("it does not parse")]
    Unparsed(#[source] pg_query::Error),
    #[error("it is not one statement")]
    NotOne,
    #[error("only SELECT, INSERT, UPDATE and DELETE are planned")]
    NotPlannable,
}

/// Splits `sql` into statements (PostgreSQL's own scanner) and checks each; answers the
/// queries or the reason one is refused.
pub fn parse(
    sql: &str,
    origin: &str,
    first_index: usize,
) -> Result<Vec<DeclaredQuery>, ParseError> {
    let statements = pg_query::split_with_parser(sql).map_err(|source| ParseError::Split {
        origin: origin.to_string(),
        source,
    })?;
    let mut out = Vec::new();
    for text in statements
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let index = first_index + out.len();
        check(text).map_err(|why| ParseError::Query {
            index,
            origin: origin.to_string(),
            why,
        })?;
        out.push(DeclaredQuery {
            index,
            text: text.to_string(),
            origin: origin.to_string(),
        });
    }
    Ok(out)
}

/// One SELECT, INSERT, UPDATE or DELETE of bounded size: what can be planned with
/// `EXPLAIN ANALYZE` and rolled back.
pub(crate) fn check(text: &str) -> Result<(), NotPlanned> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(NotPlanned::TooLong);
    }
    let parsed = pg_query::parse(text, 0).map_err(NotPlanned::Unparsed)?;
    if parsed.protobuf.stmts.len() != 1 {
        return Err(NotPlanned::NotOne);
    }
    match crate::pg::statement::first_node(&parsed) {
        Some(
            pg_query::NodeEnum::SelectStmt(_)
            | pg_query::NodeEnum::InsertStmt(_)
            | pg_query::NodeEnum::UpdateStmt(_)
            | pg_query::NodeEnum::DeleteStmt(_),
        ) => Ok(()),
        _ => Err(NotPlanned::NotPlannable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIPTION: &str = "Adds an index.\n\n## Preflight queries\n\nThe report page:\n\n```sql\nSELECT * FROM orders WHERE total = 5;\nSELECT count(*) FROM accounts\n```\n\n```ruby\nnot = :sql\n```\n\n### Preflight queries: ci\n~~~sql\nSELECT 1 FROM builds\n~~~\n\n## Other\n```sql\nSELECT 'not asked for'\n```\n";

    #[test]
    fn only_sql_blocks_under_a_queries_heading_for_this_database() {
        let main = from_description(DESCRIPTION, "main", "main");
        assert_eq!(
            main,
            ["SELECT * FROM orders WHERE total = 5;\nSELECT count(*) FROM accounts\n"]
        );
        assert_eq!(
            from_description(DESCRIPTION, "ci", "main"),
            ["SELECT 1 FROM builds\n"]
        );
        assert!(from_description("no queries here", "main", "main").is_empty());
    }

    #[test]
    fn each_query_is_one_data_statement() {
        let q = parse(
            &from_description(DESCRIPTION, "main", "main")[0],
            "the MR description",
            1,
        )
        .unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].index, 2);
        assert_eq!(q[1].text, "SELECT count(*) FROM accounts");
        for (sql, why) in [
            ("DROP TABLE orders", "only SELECT"),
            ("SELECT 1; COMMIT", ""),
            ("SELEC 1", "do not parse"),
        ] {
            let e = crate::error_chain(&parse(sql, "x.sql", 1).unwrap_err());
            assert!(e.contains(why), "{sql}: {e}");
        }
        // Two statements in one string reach `check` only one at a time.
        assert_eq!(parse("SELECT 1; SELECT 2", "x.sql", 1).unwrap().len(), 2);
    }
}
