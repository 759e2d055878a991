//! The leak gate (DESIGN.md rule 4): the last check on the rendered MR note before it
//! leaves. The note is cut into items (one per line; a code block is one item), each
//! item into words (runs of letters, digits and underscores), and an item is withheld
//! when any word is not:
//!
//! - a word of the template's own text, or of the closed vocabularies the public type
//!   draws from (SQLSTATE codes and condition names, lock modes, units, Markdown escapes),
//! - a word of the MR's migration source (file names included), or of trusted
//!   configuration (database names, job URL, head commit),
//! - an SQL keyword, or a statement parameter (`$3`),
//! - a number of at most two significant figures, optionally with its unit (`1.2k`).
//!
//! Characters outside ASCII are allowed only where the template has them. A withheld
//! item is replaced by a line saying so (its wording is a template); the full report
//! lists which words were withheld where. The gate fails closed: when it cannot run, the
//! note is a fixed "report withheld" text and nothing else.

pub use crate::model::gate::Withheld;
use std::collections::{BTreeSet, HashSet};

/// The note when the gate itself fails. Deliberately fixed text in code: the templates
/// may be what failed.
pub const REPORT_WITHHELD: &str = "### :no_entry: preflight: summary withheld\n\nThe summary could not be checked for data from the clone, so it is withheld. The database maintainers can read the full report in the protected job.\n";

/// Units the rounding code writes after numbers.
const UNITS: &[&str] = &[
    "µs", "ms", "s", "min", "h", "b", "kib", "mib", "gib", "tib", "k", "m",
];

/// What Markdown and HTML escaping add (`&lt;` ...).
const ESCAPES: &[&str] = &["lt", "gt", "amp", "quot"];

/// The words an item may carry.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    words: HashSet<String>,
    /// Non-ASCII characters the template itself uses (–, ·, µ).
    chars: HashSet<char>,
}

/// The gated note, and what was withheld from it.
#[derive(Debug, Clone)]
pub struct Gated {
    pub note: String,
    pub withheld: Vec<Withheld>,
}

/// The replacement lines, from the templates.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GateTexts {
    /// Replaces a table row.
    pub withheld_row: String,
    /// Replaces any other item.
    pub withheld_line: String,
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

impl Vocabulary {
    /// Adds every word of a text (migration source, trusted values, vocabularies).
    pub fn add_text(&mut self, text: &str) {
        for w in words(text) {
            self.words.insert(w.to_lowercase());
        }
    }

    /// Adds the literal text of a tera template, leaving out what is inside `{{ }}`,
    /// `{% %}` and `{# #}` (variable and filter names are not words of the note).
    pub fn add_template(&mut self, template: &str) {
        let mut rest = template;
        let mut literal = String::new();
        while let Some(start) = rest.find('{') {
            let (before, after) = rest.split_at(start);
            literal.push_str(before);
            let close = match after.as_bytes().get(1) {
                Some(b'{') => "}}",
                Some(b'%') => "%}",
                Some(b'#') => "#}",
                _ => {
                    literal.push('{');
                    rest = &after[1..];
                    continue;
                }
            };
            match after.find(close) {
                Some(end) => rest = &after[end + 2..],
                None => rest = "",
            }
            literal.push(' ');
        }
        literal.push_str(rest);
        self.add_text(&literal);
        self.chars.extend(literal.chars().filter(|c| !c.is_ascii()));
    }

    /// The gate's own words (the units the rounding writes, Markdown's escapes) and the
    /// closed vocabularies the views draw their fixed strings from, which the caller
    /// hands in ([`super::closed_words::all`]): the gate knows no view.
    pub fn with_closed_vocabularies<'a>(
        mut self,
        words: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        for w in UNITS.iter().chain(ESCAPES).copied().chain(words) {
            self.add_text(w);
        }
        self.chars.insert('µ');
        self.chars.insert('→');
        self
    }

    fn allows(&self, word: &str, line: &str, at: usize) -> bool {
        let lower = word.to_lowercase();
        if self.words.contains(&lower) {
            return true;
        }
        // A statement parameter: `$1`.
        if word.bytes().all(|b| b.is_ascii_digit()) && line[..at].ends_with('$') {
            return true;
        }
        if number_with_unit(&lower) {
            return true;
        }
        is_sql_keyword(&lower)
    }
}

/// At most two significant figures, optionally followed by a unit: `48`, `1200`, `12k`.
fn number_with_unit(word: &str) -> bool {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    if digits_end == 0 {
        return false;
    }
    let (number, unit) = word.split_at(digits_end);
    if !unit.is_empty() && !UNITS.contains(&unit) {
        return false;
    }
    let significant = number.trim_start_matches('0').trim_end_matches('0');
    significant.len() <= 2
}

pub(crate) fn is_sql_keyword(word: &str) -> bool {
    // Keywords only: libpg_query's scanner marks each one with its keyword kind.
    match pg_query::scan(word) {
        Ok(scan) => {
            scan.tokens.len() == 1
                && scan.tokens[0].keyword_kind != pg_query::protobuf::KeywordKind::NoKeyword as i32
        }
        Err(_) => false,
    }
}

/// Items of the note: each line, except that a fenced code block is one item.
fn items(note: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = note.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("```") {
            let end = (i + 1..lines.len())
                .find(|j| lines[*j].trim_start().starts_with("```"))
                .unwrap_or(lines.len() - 1);
            out.push((i, end));
            i = end + 1;
        } else {
            out.push((i, i));
            i += 1;
        }
    }
    out
}

/// Why the gate let nothing through (the note becomes the fixed "withheld" text).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("the vocabulary is empty (no template was read)")]
    EmptyVocabulary,
    #[error("the leak gate panicked")]
    Panicked,
}

/// Checks every item of `note`; withholds those with a word the vocabulary lacks.
pub fn gate(note: &str, vocab: &Vocabulary, texts: &GateTexts) -> Result<Gated, GateError> {
    if vocab.words.is_empty() {
        return Err(GateError::EmptyVocabulary);
    }
    let lines: Vec<&str> = note.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut withheld = Vec::new();
    for (first, last) in items(note) {
        let mut bad: BTreeSet<String> = BTreeSet::new();
        for line in &lines[first..=last] {
            // Markdown escapes (`\_`) are not word boundaries.
            let line = line.replace('\\', "");
            let line = line.as_str();
            let mut offset = 0;
            for piece in line.split_inclusive(|c: char| !(c.is_alphanumeric() || c == '_')) {
                let word = piece.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
                if !word.is_empty() && !vocab.allows(word, line, offset) {
                    bad.insert(word.to_string());
                }
                offset += piece.len();
            }
            for c in line
                .chars()
                .filter(|c| !c.is_ascii() && !vocab.chars.contains(c))
            {
                bad.insert(c.to_string());
            }
            // A control character (an escape, a carriage return) is never let through.
            for c in line.chars().filter(|c| c.is_control() && *c != '\t') {
                bad.insert(c.escape_default().to_string());
            }
        }
        if bad.is_empty() {
            out.extend(lines[first..=last].iter().map(|l| l.to_string()));
        } else {
            let in_table = lines[first].trim_start().starts_with('|');
            out.push(if in_table {
                texts.withheld_row.clone()
            } else {
                texts.withheld_line.clone()
            });
            withheld.push(Withheld {
                line: first + 1,
                words: bad.into_iter().collect(),
            });
        }
    }
    let mut note = out.join("\n");
    note.push('\n');
    Ok(Gated { note, withheld })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let mut v =
            Vocabulary::default().with_closed_vocabularies(super::super::closed_words::all());
        v.add_template("| Migration | Runtime | {{ m.name }} |\n{% if x %}took{% endif %} · in");
        v.add_text("0001_create_customers.sql");
        v.add_text("CREATE INDEX customers_note_idx ON customers (note);");
        v
    }

    fn texts() -> GateTexts {
        GateTexts {
            withheld_row: "| (withheld) |".into(),
            withheld_line: "(withheld)".into(),
        }
    }

    #[test]
    fn allowed_words_pass_and_others_are_withheld() {
        let note = "| Migration | Runtime |\n| customers_note_idx | 230 ms |\n| cnry7f3a9c | 1.2 s |\ntook 48 KiB · in\nsecretvalue";
        let g = gate(note, &vocab(), &texts()).unwrap();
        assert_eq!(
            g.note,
            "| Migration | Runtime |\n| customers_note_idx | 230 ms |\n| (withheld) |\ntook 48 KiB · in\n(withheld)\n"
        );
        assert_eq!(g.withheld.len(), 2);
        assert_eq!(g.withheld[0].line, 3);
        assert_eq!(g.withheld[0].words, vec!["cnry7f3a9c".to_string()]);
    }

    #[test]
    fn numbers_keep_two_significant_figures_only() {
        assert!(number_with_unit("230"));
        assert!(number_with_unit("20000"));
        assert!(number_with_unit("12k"));
        assert!(number_with_unit("0001"));
        assert!(!number_with_unit("987654321"));
        assert!(!number_with_unit("123"));
        assert!(!number_with_unit("12abc"));
        let g = gate("took 987654321 ms", &vocab(), &texts()).unwrap();
        assert_eq!(g.note, "(withheld)\n");
    }

    #[test]
    fn keywords_parameters_and_template_characters_pass() {
        let g = gate(
            "UPDATE customers SET note = $123 WHERE note IS NULL",
            &vocab(),
            &texts(),
        )
        .unwrap();
        assert!(g.withheld.is_empty(), "{:?}", g.withheld);
        let g = gate("took · in", &vocab(), &texts()).unwrap();
        assert!(g.withheld.is_empty());
        let g = gate("took ☃ in", &vocab(), &texts()).unwrap();
        assert_eq!(g.withheld[0].words, vec!["☃".to_string()]);
        let g = gate("took Ünïcode in", &vocab(), &texts()).unwrap();
        assert_eq!(g.withheld.len(), 1);
    }

    #[test]
    fn markdown_escapes_do_not_split_words() {
        let g = gate(
            "| 0001\\_create\\_customers | success |",
            &vocab(),
            &texts(),
        )
        .unwrap();
        assert!(g.withheld.is_empty(), "{:?}", g.withheld);
    }

    #[test]
    fn a_code_block_is_one_item() {
        let g = gate("took\n```\ncustomers\ncnry\n```\nin", &vocab(), &texts()).unwrap();
        assert_eq!(g.note, "took\n(withheld)\nin\n");
    }

    #[test]
    fn a_control_character_is_withheld() {
        let g = gate("took \u{1b}[2K in\rtook", &vocab(), &texts()).unwrap();
        assert_eq!(g.note, "(withheld)\n");
        assert!(
            g.withheld[0].words.contains(&"\\u{1b}".to_string()),
            "{:?}",
            g.withheld
        );
    }

    #[test]
    fn an_empty_vocabulary_fails_closed() {
        assert!(gate("x", &Vocabulary::default(), &texts()).is_err());
    }
}
