//! The result's own types: what report.json says, owned here rather than borrowed from
//! the producers' internal types, so that a rename inside a rule or an observer does not
//! change the schema. The analysis converts into these types, the views read them.
//!
//! It holds the findings ([`finding`]): a finding is a cause (a statement, or a span of
//! statements, and the object it acts on) with every observation behind it folded in,
//! the measured impact that ranks it, and the verdict line a reviewer reads first; and
//! how the run ended ([`outcome`]), decided once for every view of it; why an MR was
//! refused ([`refusal`]); and the shapes its producers report in: the tool and layout
//! ([`tool`]), the clone ([`clone`]), a batched job ([`batched`]), a declared query
//! ([`query`]).

pub mod batched;
pub mod clone;
pub mod finding;
pub mod gate;
pub mod observed;
pub mod outcome;
pub mod query;
pub mod refusal;
pub mod report;
pub mod tool;
pub mod trace;
pub mod verdict;

pub use finding::{Evidence, Finding, Impact, RuleId, Severity, StatementRef};
pub use outcome::{decide, Ending, Facts, MigrationOutcome};
pub use verdict::{rank, Verdict};
