//! tern-dns: the DNS half of tern — wire codec, names, records, system
//! configuration, hosts file, cache and the decisions a stub resolver makes.
//!
//! Everything in this crate is pure: it neither opens sockets nor reads the
//! clock (functions that need the time take `now: Instant`). The async
//! resolver built on tern's runtime and networking drives these pieces:
//!
//! 1. [`search::lookup_plan`] / [`search::search_candidates`] turn what the
//!    user typed into literal addresses or the names to query, in order;
//!    [`Hosts`] answers first when [`Config::use_hosts`] is set.
//! 2. [`Cache::get`] may answer without the network.
//! 3. For each attempt, [`resolve::attempt_plan`] says which server to ask;
//!    [`wire::Message::query`] builds the query with a fresh random ID.
//! 4. Each datagram that arrives goes through [`resolve::validate_reply`]:
//!    a [`resolve::Reject`] is dropped and the wait goes on; an accepted
//!    reply goes to [`resolve::classify`], which says retry over TCP, retry
//!    without EDNS, ask the next server, or done.
//! 5. [`resolve::extract_answer`] and [`resolve::negative_ttl`] turn the final
//!    reply into records or an error, and into what the cache keeps.
//!
//! # Implementation
//!
//! The crate is `#![forbid(unsafe_code)]`. Input from the network and from
//! files never causes a panic: decoders read through bounds-checked cursors
//! and report [`Error::Malformed`]; parsers of configuration files skip what
//! they cannot read, as glibc does.

#![forbid(unsafe_code)]

mod error;
mod name;
mod record;
pub mod wire;

pub use error::Error;
pub use name::{Labels, Name, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use record::{RData, Record, RecordType};
