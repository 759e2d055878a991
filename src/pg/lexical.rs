//! Cheap looks at SQL text before PostgreSQL's parser is asked: the bridge sees every
//! statement of a migration go by, and most need no parse at all.

/// The first keyword of `text`, upper-cased, after white space and comments (`--`
/// lines, `/* */` blocks, nested as PostgreSQL nests them). `None` when the text starts
/// with something else (a parenthesis, a quote) or has no word.
pub fn first_keyword(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0usize;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            break;
        }
    }
    let word: String = text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect();
    (!word.is_empty()).then(|| word.to_ascii_uppercase())
}

/// True when `text` is certainly one statement (or none): at most one `;`, and only at
/// its end. Texts with more go to the parser, which knows about strings and comments.
pub fn single_statement(text: &str) -> bool {
    match text.bytes().filter(|b| *b == b';').count() {
        0 => true,
        1 => text.trim_end().ends_with(';'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_keyword_skips_space_and_comments() {
        assert_eq!(first_keyword("  alter table x").as_deref(), Some("ALTER"));
        assert_eq!(
            first_keyword("-- why\n/* a /* nested */ note */\nSET lock_timeout = 1").as_deref(),
            Some("SET")
        );
        assert_eq!(first_keyword("(SELECT 1)"), None);
        assert_eq!(first_keyword("-- only a comment"), None);
        assert_eq!(first_keyword("/* unterminated"), None);
        assert_eq!(first_keyword(""), None);
    }

    #[test]
    fn single_statement_is_sure_or_says_no() {
        assert!(single_statement("INSERT INTO t VALUES (1);\n"));
        assert!(single_statement("SELECT 1"));
        assert!(!single_statement("SELECT 1; SELECT 2"));
        assert!(!single_statement("SELECT ';'"));
        assert!(!single_statement("SELECT 1;; "));
    }
}
