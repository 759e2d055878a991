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
use std::collections::{HashMap, VecDeque};

/// A statement's tokens, without comments or semicolons, as one comparable string.
fn key(text: &str) -> String {
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

/// The line (1-based) of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// The file's statements: key, number and line.
fn file_statements(source: &str, first_line: usize) -> Vec<(String, usize)> {
    let Ok(parts) = pg_query::split_with_scanner(source) else {
        return Vec::new();
    };
    let base = source.as_ptr() as usize;
    parts
        .into_iter()
        .filter_map(|part| {
            let k = key(part);
            if k.is_empty() {
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
            Some((k, line_at(source, start + lead) + first_line - 1))
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
        .map_or(1, |at| line_at(file, at));
    let statements = file_statements(source, first_line);
    let mut by_key: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (i, (k, _)) in statements.iter().enumerate() {
        by_key.entry(k.as_str()).or_default().push_back(i);
    }
    let mut cursor = 0;
    let mut matched = false;
    for st in &mut timeline.statements {
        let Some(queue) = by_key.get_mut(key(&st.text).as_str()) else {
            continue;
        };
        while queue.front().is_some_and(|i| *i < cursor) {
            queue.pop_front();
        }
        if let Some(i) = queue.pop_front() {
            st.number = Some(i + 1);
            st.line = Some(statements[i].1);
            cursor = i + 1;
            matched = true;
        }
    }
    if !matched {
        let mut n = 0;
        for st in &mut timeline.statements {
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
            locks: vec![],
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
}
