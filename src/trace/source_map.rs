//! Where each traced statement stands in the migration's file: its number as the file
//! counts its statements (the first statement of the file is 1) and the line it starts
//! on, so that a finding can say `statement 3, line 12` and a reviewer can click
//! `up.sql:12`.
//!
//! The file is split by PostgreSQL's own scanner; a traced statement is matched to the
//! next statement of the file with the same tokens (comments, white space and the
//! closing semicolon left out, as clients differ in what they send). What the file does
//! not hold, a tool's own `BEGIN` around the file or the bridge's own reads, gets no
//! number. Where nothing matches at all (a command-mode tool writes its own SQL),
//! statements are numbered in the order they ran, transaction control left out.

use super::timeline::Timeline;
use pg_query::protobuf::Token;

/// A statement's tokens, without comments or semicolons, hashed: what two texts of the
/// same statement share (a file of 300,000 statements keeps 300,000 of these, not
/// their texts).
fn key(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let words = words(text);
    if words.is_empty() {
        return 0;
    }
    let mut h = std::hash::DefaultHasher::new();
    words.hash(&mut h);
    h.finish()
}

/// A statement's tokens, without comments or semicolons, as one string.
fn words(text: &str) -> String {
    match pg_query::scan(text) {
        Ok(scan) => {
            let mut out = String::with_capacity(text.len());
            for t in &scan.tokens {
                let kind = t.token;
                if kind == Token::SqlComment as i32
                    || kind == Token::CComment as i32
                    || kind == Token::Ascii59 as i32
                {
                    continue;
                }
                let Some(word) = text.get(t.start as usize..t.end as usize) else {
                    continue;
                };
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
            out
        }
        Err(_) => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Where each line of a text starts, to tell the line of an offset without counting
/// from the top each time (a file of 300,000 statements asks 300,000 times).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The line (1-based) of byte `offset`.
    fn at(&self, offset: usize) -> usize {
        1 + self.0.partition_point(|newline| *newline < offset)
    }
}

/// The file's statements: key and line.
fn file_statements(source: &str, first_line: usize) -> Vec<(u64, usize)> {
    let Ok(parts) = pg_query::split_with_scanner(source) else {
        return Vec::new();
    };
    let base = source.as_ptr() as usize;
    let lines = Lines::of(source);
    parts
        .into_iter()
        .filter_map(|part| {
            let k = key(part);
            if k == 0 {
                return None;
            }
            // Where its first token starts (a leading comment is not the statement).
            let start = part.as_ptr() as usize - base;
            let lead = pg_query::scan(part)
                .ok()
                .and_then(|s| {
                    s.tokens
                        .iter()
                        .find(|t| {
                            t.token != Token::SqlComment as i32 && t.token != Token::CComment as i32
                        })
                        .map(|t| t.start as usize)
                })
                .unwrap_or(0);
            Some((k, lines.at(start + lead) + first_line - 1))
        })
        .collect()
}

/// Numbers the statements of `timeline` as `source` (the SQL the tool ran) holds them;
/// `file` is the whole file `source` was taken from (a section of it, for dbmate), so
/// that lines count from the file's top.
pub fn number(timeline: &mut Timeline, source: &str, file: &str) {
    let first_line = file
        .find(source)
        .filter(|_| !source.is_empty())
        .map_or(1, |at| Lines::of(file).at(at));
    let statements = file_statements(source, first_line);
    // (key, position) of every file statement, sorted: a key's positions are in order.
    let mut positions: Vec<(u64, usize)> = statements
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i))
        .collect();
    positions.sort_unstable();
    // The first position of `key` at or after `at`.
    let from = |key: u64, at: usize| {
        let p = positions.partition_point(|e| *e < (key, at));
        positions.get(p).filter(|e| e.0 == key).map(|e| e.1)
    };
    let mut cursor = 0;
    let mut matched = false;
    for st in &mut timeline.statements {
        let k = key(&st.text);
        if k == 0 {
            continue;
        }
        // Statements the bridge folded just before it were the file's next ones, as a
        // tool sends them in order; where that does not hold, the next match will do.
        let Some(i) = from(k, cursor + st.folded_before).or_else(|| from(k, cursor)) else {
            continue;
        };
        st.number = Some(i + 1);
        st.line = Some(statements[i].1);
        cursor = i + 1;
        matched = true;
    }
    if !matched {
        let mut n = 0;
        for st in &mut timeline.statements {
            n += st.folded_before;
            if !super::timeline::is_transaction_control(&st.kind) {
                n += 1;
                st.number = Some(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::timeline::TracedStatement;

    fn traced(texts: &[&str]) -> Timeline {
        Timeline {
            statements: texts
                .iter()
                .enumerate()
                .map(|(i, t)| TracedStatement::bare(i + 1, t))
                .collect(),
            ..Timeline::default()
        }
    }

    #[test]
    fn statements_are_numbered_as_in_the_file_with_their_lines() {
        let file = "-- add the column\nALTER TABLE a ADD COLUMN b int;\n\n/* then */ UPDATE a\n  SET b = 1;\nCREATE INDEX a_b ON a (b);\n";
        // diesel's way: BEGIN around the file, statements as psql sends them.
        let mut t = traced(&[
            "BEGIN",
            "-- add the column\nALTER TABLE a ADD COLUMN b int;",
            "/* then */ UPDATE a\n  SET b = 1",
            "CREATE INDEX a_b ON a (b)",
            "COMMIT",
        ]);
        number(&mut t, file, file);
        let got: Vec<(Option<usize>, Option<usize>)> =
            t.statements.iter().map(|s| (s.number, s.line)).collect();
        assert_eq!(
            got,
            [
                (None, None),
                (Some(1), Some(2)),
                (Some(2), Some(4)),
                (Some(3), Some(6)),
                (None, None)
            ]
        );
    }

    #[test]
    fn repeated_statements_match_in_order_and_sections_count_from_the_file_top() {
        let file = "-- migrate:up\nSELECT 1;\nSELECT 1;\n-- migrate:down\nSELECT 2;\n";
        let up = "SELECT 1;\nSELECT 1;\n";
        let mut t = traced(&["SELECT 1", "SELECT 1"]);
        number(&mut t, up, file);
        assert_eq!(t.statements[0].line, Some(2));
        assert_eq!(t.statements[1].line, Some(3));
        assert_eq!(t.statements[1].number, Some(2));
    }

    #[test]
    fn a_tool_that_writes_its_own_sql_is_numbered_in_order() {
        let mut t = traced(&["BEGIN", "CREATE TABLE x (a int)", "COMMIT", "SELECT 1"]);
        number(&mut t, "", "");
        let got: Vec<Option<usize>> = t.statements.iter().map(|s| s.number).collect();
        assert_eq!(got, [None, Some(1), None, Some(2)]);
    }

    #[test]
    fn a_statement_after_folded_ones_gets_its_own_number_among_identical_ones() {
        let file = "UPDATE t SET x = 1;\n".repeat(5) + "ALTER TABLE t ADD b int;\n";
        // The bridge kept the first, folded the next three, kept the fifth (slow).
        let mut t = traced(&[
            "UPDATE t SET x = 1",
            "UPDATE t SET x = 1",
            "ALTER TABLE t ADD b int",
        ]);
        t.statements[1].folded_before = 3;
        number(&mut t, &file, &file);
        let numbers: Vec<_> = t.statements.iter().map(|s| s.number).collect();
        assert_eq!(numbers, [Some(1), Some(5), Some(6)]);
        assert_eq!(t.statements[1].line, Some(5));
    }
}
