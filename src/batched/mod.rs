//! Batched background migrations: what a migration declares ([`declaration`]) and how
//! the rehearsal samples it on the clone and estimates the whole job ([`sample`]).

pub mod declaration;
pub mod sample;
