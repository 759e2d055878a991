//! A query the MR declares, as report.json names it (planned before and after the
//! migrations, [`crate::source::queries`]).

use serde::Serialize;

/// One declared query, checked.
#[derive(Debug, Clone, Serialize)]
pub struct DeclaredQuery {
    /// 1-based, in declaration order.
    pub index: usize,
    /// Its text, as declared (the full report only; the note shows it normalized).
    pub text: String,
    /// Where it was declared: `the MR description` or the file's path.
    pub origin: String,
}
