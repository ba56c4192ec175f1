//! Shared by tern's integration tests. tern-dns's reliability test and the
//! `stress` binary of tern-benches include some of these files too, by
//! `#[path]`, so they name only what every includer has: std and `tern`.

pub mod cancel;
pub mod footprint;
pub mod tcp_echo;
