//! preflight rehearses a merge request's database migrations on a thin clone of the
//! production database, inside a box with no network, and reports a summary that is
//! safe for anyone to read while the full detail stays with the maintainers.
//!
//! The binary is a thin shell over [`commands`]: it parses the command line, and each
//! command builds a validated [`config::Plan`] and hands it to [`run::execute`].

pub mod analyze;
pub mod batched;
pub mod bench;
pub mod bridge;
pub mod child;
pub mod cli;
pub mod clone;
pub mod commands;
pub mod config;
pub mod demo_examples;
pub mod dle_api;
pub mod engine;
pub mod exec;
pub mod exit;
pub mod gitlab;
pub mod migrations;
pub mod model;
pub mod observe;
pub mod pg;
pub mod pgwire;
pub mod report;
pub mod run;
pub mod runs;
pub mod sandbox;
pub mod secret;
pub mod source;
pub mod teardown;
pub mod text;
pub mod tools;
pub mod trace;

/// An error and its sources, joined: "db error: ERROR: relation \"x\" does not exist".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
