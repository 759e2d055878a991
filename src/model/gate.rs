//! An item the leak gate withheld from the MR note, as report.json names it
//! ([`crate::report::gate`] decides).

/// One withheld item, for the full report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Withheld {
    /// 1-based line of the rendered note.
    pub line: usize,
    /// The words that are not allowed.
    pub words: Vec<String>,
}
