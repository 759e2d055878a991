//! Reports: views of one result ([`crate::model::report::RunReport`], the model's). The
//! full report goes to the artifacts and the job log; the public summary ([`public::PublicSummary`]) is the
//! only thing posted on the MR, after the leak gate ([`gate`]) has checked every item of
//! its rendering, and the JUnit ([`junit`]) and Code Quality ([`codequality`]) reports
//! are views of it, gated text by text. The HTML report ([`html`], charts in [`svg`]) is
//! the full report drawn for maintainers. Wording lives in the templates ([`render`]).

pub mod batched;
pub mod blocked;
pub mod causes;
pub mod charts;
pub mod closed_words;
pub mod codequality;
pub mod filters;
pub mod gate;
pub mod history;
pub mod html;
pub mod junit;
pub mod plans;
pub mod public;
pub mod render;
pub mod resources;
pub mod rounding;
pub mod shed;
pub mod source_words;
pub mod sqlstate;
pub mod svg;
pub mod traffic;
pub mod way_back;

pub use crate::model::report::{
    DatabaseReport, MigrationOutcome, MigrationReport, Planned, QueryReport, RunReport, WayBack,
};
pub use public::{PublicSummary, NOTE_MARKER};
pub use render::{Renderer, NOTE_BUDGET};
pub use source_words::SourceWords;
