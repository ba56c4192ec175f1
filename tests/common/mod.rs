//! Shared by tern's integration tests. tern-dns's reliability test and the
//! `stress` binary of tern-benches include some of these files too, by
//! `#[path]`, so they name only what every includer has: std and `tern`.
//!
//! `heap.rs` (a counting global allocator) and `drop_count.rs` are not
//! modules of `common`: the tests that want them include them by
//! `#[path]`, so that no other test gets the allocator.

pub mod cancel;
pub mod footprint;
pub mod tcp_echo;
