//! Configuration: the trusted file ([`file`]) and the validated [`plan::Plan`] built
//! from it, the command line and the CI variables before anything starts.

pub mod file;
pub mod plan;

pub use plan::{
    BoxPlan, ClonePlan, DatabasePlan, EnginePlan, GitlabTarget, Plan, PlanError, Publish,
    Selection, SourcePlan,
};
