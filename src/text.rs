//! Names as data: text the MR chose (a file name, an object name) or the clone produced
//! (a server message) printed where a control character would act instead of show. An
//! escape or a carriage return could repaint a terminal or GitLab's log, a newline could
//! start a forged line ("all migrations succeeded"). [`visible`] shows every control
//! character as its escape; [`visible_lines`] keeps line breaks and tabs, for text made
//! of lines (a report).

use std::borrow::Cow;

fn escaped(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` with every control character shown as its escape (`\n`, `\u{1b}`).
pub fn visible(s: &str) -> Cow<'_, str> {
    escaped(s, |_| false)
}

/// `s` with every control character but newlines and tabs shown as its escape.
pub fn visible_lines(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_show_as_escapes() {
        let forged = "0002_x\u{1b}[2K\rall migrations succeeded (exit 0)\n.sql";
        assert_eq!(
            visible(forged),
            "0002_x\\u{1b}[2K\\rall migrations succeeded (exit 0)\\n.sql"
        );
        assert_eq!(visible_lines("a\tb\nc\u{7f}"), "a\tb\nc\\u{7f}");
        assert!(matches!(visible("plain_name.sql"), Cow::Borrowed(_)));
    }
}
