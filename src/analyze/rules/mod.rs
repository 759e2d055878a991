//! The rules, by family: locks ([`locks`]), rewrites ([`rewrites`]), indexes
//! ([`indexes`]), constraints ([`constraints`]), schema changes the running application
//! notices ([`schema`]), workload ([`workload`]), failure ([`failure`]), tables of
//! another database ([`ownership`]) and waits of the generated traffic ([`traffic`]). Each reads an
//! [`Input`] and returns its findings; none looks at a relation the migration created.

mod constraints;
mod failure;
mod indexes;
mod locks;
mod ownership;
mod rewrites;
mod schema;
mod traffic;
mod workload;

use super::{Finding, Input};
use crate::trace::timeline::TracedStatement;

pub fn all(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in [
        locks::check,
        rewrites::check,
        indexes::check,
        constraints::check,
        schema::check,
        workload::check,
        failure::check,
        ownership::check,
        traffic::check,
    ] {
        out.extend(family(input));
    }
    out
}

/// True when `text` names `name` as a word (case-insensitive, quotes allowed).
fn names(text: &str, name: &str) -> bool {
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The first statement of one of `kinds` whose text names `name`.
fn statement_naming<'a>(
    input: &Input<'a>,
    kinds: &[&str],
    name: &str,
) -> Option<&'a TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .find(|s| kinds.contains(&s.kind.as_str()) && names(&s.text, name))
}

/// The statement that failed, when one did.
fn failed_statement<'a>(input: &Input<'a>) -> Option<&'a TracedStatement> {
    input
        .trace
        .statements
        .iter()
        .rev()
        .find(|s| s.sqlstate.is_some())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_whole_words_only() {
        assert!(super::names("DROP INDEX \"Orders_idx\";", "orders_idx"));
        assert!(!super::names("DROP INDEX orders_idx2", "orders_idx"));
    }
}
