//! A finding as report.json carries it: a cause with its evidence folded in.
//!
//! One finding is one cause: the statement (or the first statement of a span) that did
//! it, the object it acts on, and every observation behind it (the tables it blocked and
//! for how long, what it rewrote, how many rows) as [`Evidence`]. Ids are a closed enum,
//! so a rule cannot raise an id the registry does not describe: the registry's lookup
//! is an exhaustive match over [`RuleId`].

use serde::{Serialize, Serializer};

macro_rules! rule_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// Every finding id preflight raises (`PF-L01` ...).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $($variant,)*
        }

        impl RuleId {
            /// Every id, in the catalogue's order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// `PF-L01`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }
        }
    };
}

rule_ids! {
    L01 => "PF-L01", L02 => "PF-L02", L03 => "PF-L03", L04 => "PF-L04",
    R01 => "PF-R01",
    I01 => "PF-I01", I02 => "PF-I02", I03 => "PF-I03", I04 => "PF-I04", I05 => "PF-I05",
    I06 => "PF-I06",
    C01 => "PF-C01", C02 => "PF-C02", C03 => "PF-C03", C04 => "PF-C04", C05 => "PF-C05",
    C06 => "PF-C06",
    T01 => "PF-T01", T02 => "PF-T02", T03 => "PF-T03", T04 => "PF-T04",
    S01 => "PF-S01", S02 => "PF-S02", S03 => "PF-S03", S04 => "PF-S04",
    K01 => "PF-K01",
    D01 => "PF-D01", D02 => "PF-D02", D03 => "PF-D03",
    B01 => "PF-B01", B02 => "PF-B02", B03 => "PF-B03", B04 => "PF-B04",
    W01 => "PF-W01", W02 => "PF-W02",
    X01 => "PF-X01",
    F01 => "PF-F01",
    U01 => "PF-U01", U02 => "PF-U02", U03 => "PF-U03",
    Q01 => "PF-Q01", Q02 => "PF-Q02", Q03 => "PF-Q03", Q04 => "PF-Q04",
}

impl RuleId {
    /// The id spelled `PF-L01`, if it is one.
    pub fn parse(text: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|id| id.as_str() == text)
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; production will not notice.
    Info,
    /// May hurt production, depending on its traffic.
    Warning,
    /// Will hurt production: blocks the application, rewrites, fails.
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One measured number behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// What was measured: `SHARE held`, `lock_timeout`, `rows changed` (fixed words and
    /// lock mode names only: the note shows it).
    pub measure: String,
    /// The relation it was measured on, when the cause acts on several.
    pub object: Option<String>,
    pub value: f64,
    /// `ms`, `s`, `rows`, `bytes`, `statements`.
    pub unit: &'static str,
    /// The threshold it was compared with, in the same unit, when there is one.
    pub threshold: Option<f64>,
}

impl Evidence {
    pub fn new(measure: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Evidence {
            measure: measure.into(),
            object: None,
            value,
            unit,
            threshold: None,
        }
    }

    pub fn against(mut self, threshold: f64) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// The same measure, taken on `object`.
    pub fn on(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }
}

/// Where a cause stands in the migration's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    /// Its position among the file's statements (the file's first statement is 1);
    /// none for a statement the file does not hold (a tool's own `BEGIN`).
    pub number: Option<usize>,
    /// The line of the file it starts on.
    pub line: Option<usize>,
    /// Its SQL command (`CREATE INDEX`).
    pub kind: String,
    /// Its position in the trace, wrappers included (full report only).
    pub trace_index: usize,
}

/// What the application would feel from a cause, as measured: how long it could not
/// read or write tables that existed before. Ranks the causes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Impact {
    pub reads_blocked_ms: f64,
    pub writes_blocked_ms: f64,
}

impl Impact {
    /// Blocking time weighted by what it blocks: a blocked read counts as much again as a
    /// blocked write (reads are most of an application's traffic).
    pub fn weight(&self) -> f64 {
        self.reads_blocked_ms + self.writes_blocked_ms
    }

    /// The larger of each.
    pub fn max(self, other: Impact) -> Impact {
        Impact {
            reads_blocked_ms: self.reads_blocked_ms.max(other.reads_blocked_ms),
            writes_blocked_ms: self.writes_blocked_ms.max(other.writes_blocked_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: RuleId,
    pub severity: Severity,
    /// The relation, column (`table.column`), index or constraint concerned; for a cause
    /// that acts on several, the one it hurts most.
    pub object: String,
    /// The other objects the same cause acts on (tables it also blocked, indexes it also
    /// rebuilt), worst first.
    pub also: Vec<String>,
    /// The statement that did it (the first of a span).
    pub statement: Option<StatementRef>,
    pub evidence: Vec<Evidence>,
    /// What the application would feel, for ranking.
    pub impact: Impact,
    /// Judged from the statement and the catalog diff, not from a measurement.
    pub is_static: bool,
    pub acknowledged: bool,
    /// The reason the migration's source gives, when acknowledged (full report only).
    pub acknowledged_reason: Option<String>,
}

impl Finding {
    pub fn with(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }

    /// Adds an object the cause also acts on (once).
    pub fn also(mut self, object: impl Into<String>) -> Self {
        let object = object.into();
        if object != self.object && !self.also.contains(&object) {
            self.also.push(object);
        }
        self
    }

    pub fn impact(mut self, impact: Impact) -> Self {
        self.impact = self.impact.max(impact);
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The statement's number as the file counts it, when it has one.
    pub fn statement_number(&self) -> Option<usize> {
        self.statement.as_ref().and_then(|s| s.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for id in RuleId::ALL {
            let text = id.as_str();
            assert!(text.starts_with("PF-") && text.len() == 6, "{text}");
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(RuleId::parse(text), Some(*id));
        }
        assert_eq!(RuleId::parse("PF-Z99"), None);
        assert_eq!(serde_json::to_string(&RuleId::L01).unwrap(), "\"PF-L01\"");
    }
}
