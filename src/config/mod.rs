//! Configuration: the trusted file ([`file`]), the sections of it each part of the job
//! reads ([`sections`], [`table_owners`]), the run's flags ([`flags`]), and the validated
//! [`plan::Plan`] built from them and the CI variables before anything starts (or, for
//! `preflight demo`, from the defaults and the demo's few choices, [`demo`]).

pub mod demo;
pub mod file;
pub mod flags;
pub mod plan;
pub mod sections;
pub mod table_owners;

pub use plan::{
    BoxPlan, ClonePlan, DatabasePlan, EnginePlan, GitlabTarget, Plan, PlanError, Publish,
    Selection, SourcePlan,
};
