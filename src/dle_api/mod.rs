//! The Database Lab clone API's contract, written once: the request bodies DLE's clients
//! send ([`requests`]), the objects its engine answers with ([`models`]), and the rules
//! both sides read them by ([`time`] for DLE's timestamps, [`requests::blank`] for its
//! zero values). `clone::dle` (our client), `engine::api` (our engine) and `bench` all
//! use these types, so a field renamed here is renamed everywhere. Field order follows
//! DLE's Go structs (`engine/pkg/client/dblabapi/types`, `engine/pkg/models`), so what
//! we send encodes the way DLE's own client encodes it.

pub mod models;
pub mod requests;
pub mod time;

pub use models::*;
pub use requests::*;
