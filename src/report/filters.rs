//! The template filters that turn names the MR chose (file names, object names) into
//! plain text in the note. GitLab turns `@name` into a mention (`@all` notifies everyone),
//! bare URLs into links, and `#1`, `!1`, `~x`, `%x`, `&1` into references, everywhere
//! except inside code; so names are shown as code spans (`code`), or escaped inside a
//! template's `<code>` in HTML (`html`), and `md` escapes the rest of Markdown where a
//! code span does not fit.

use std::collections::HashMap;
use tera::Value;

/// Escapes Markdown and HTML so a value renders as plain text inside a table cell.
pub fn md_escape(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let s = tera::try_get_value!("md", "value", String, value);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            _ => out.push(c),
        }
    }
    Ok(Value::String(out))
}

/// A code span holding the value as it is: a fence longer than any run of backticks in
/// it, padded when it starts or ends with one, line breaks as spaces, and `|` as `\|`
/// (a table cell ends at a bare pipe even inside code).
pub fn code_span(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let s = tera::try_get_value!("code", "value", String, value);
    let s: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect::<String>();
    // Any other control character shows as its escape: an ESC never reaches the note.
    let s = crate::text::visible(&s).replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.is_empty() || s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    Ok(Value::String(format!("{fence}{pad}{s}{pad}{fence}")))
}

/// The value HTML-escaped, for names inside HTML (the template wraps them in `<code>`
/// itself, so the gate knows the tag as a template word).
pub fn html_escape(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let s = tera::try_get_value!("html", "value", String, value);
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            _ => out.push(c),
        }
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> String {
        code_span(&Value::String(s.into()), &HashMap::new())
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn code_spans_hold_any_name() {
        assert_eq!(code("0001_add_index"), "`0001_add_index`");
        assert_eq!(code("@all http://x.example"), "`@all http://x.example`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a|b\nc"), "`a\\|b c`");
    }
}
