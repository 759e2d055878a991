//! preflight rehearses a merge request's database migrations on a thin clone of the
//! production database, inside a box with no network, and reports a summary that is
//! safe for anyone to read while the full detail stays with the maintainers.
//!
//! The binary is a thin shell over [`job`]: `main.rs` parses the command line, builds a
//! [`config::Plan`] and hands it to the job.

pub mod bridge;
pub mod cli;
pub mod clone;
pub mod config;
pub mod exit;
pub mod migrations;
pub mod observe;
pub mod report;
pub mod sandbox;
pub mod secret;
