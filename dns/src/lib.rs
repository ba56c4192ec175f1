//! tern-dns: the DNS half of tern — wire codec, names, records, system
//! configuration, hosts file, cache and the decisions a stub resolver makes.
//!
//! Nothing here opens a socket or reads the clock (functions that need the
//! time take `now: Instant`); the only I/O is reading configuration files
//! ([`Config::from_system`], [`Hosts::load`]). The async resolver — `resolve`,
//! `connect` and `Resolver`, built on tern's runtime and networking — drives
//! these pieces:
//!
//! 1. [`search::ip_literal`] and [`search::localhost_addrs`] answer without
//!    any lookup; [`Hosts`] answers next when [`Config::use_hosts`] is set;
//!    [`search::search_candidates`] gives the names to query, in order.
//! 2. [`Cache::get`] may answer without the network.
//! 3. For each attempt, [`exchange::attempt_plan`] says which server to ask;
//!    [`wire::Message::query`] builds the query with a fresh random ID.
//! 4. Each datagram that arrives goes through [`exchange::validate_reply`]
//!    (and [`exchange::check_cookie`] when the query carried a DNS cookie):
//!    a [`exchange::Reject`] is dropped and the wait goes on; an accepted
//!    reply goes to [`exchange::classify`], which says retry over TCP, retry
//!    without EDNS, ask the next server, or done.
//! 5. [`exchange::extract_answer`] and [`exchange::negative_ttl`] turn the
//!    final reply into records or an error, and into what the cache keeps.
//! 6. With [`Config::sort_rfc6724`], [`rfc6724::sort`] orders a host's
//!    addresses as glibc's `getaddrinfo` does.
//!
//! The `exchange` module's documentation shows that loop in full.
//!
//! # Implementation
//!
//! The crate is `#![forbid(unsafe_code)]`. Input from the network and from
//! files never causes a panic: decoders read through bounds-checked cursors
//! and report [`Error::Malformed`] with a small `Copy` [`DecodeError`]
//! (rejecting junk allocates nothing); parsers of configuration files skip what
//! they cannot read, as glibc does.

#![forbid(unsafe_code)]

mod cache;
mod config;
mod error;
pub mod exchange;
mod hosts;
mod lru;
mod name;
mod one_or_many;
mod record;
mod resolv_conf;
mod resolver;
pub mod rfc6724;
pub mod search;
#[cfg(test)]
mod test_records;
pub mod wire;

pub use cache::{Cache, Negative, DEFAULT_CACHE_BYTES, MAX_NEGATIVE_TTL, MAX_TTL};
pub use config::{
    Config, IpFamily, EDNS_PAYLOAD, HOSTS_FILE, MAX_DEFAULT_LOOKUP_TIME, MAX_LOOKUP_TIME,
    RESOLV_CONF,
};
pub use error::Error;
pub use hosts::Hosts;
pub use name::{Labels, Name, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use record::{RData, Record, RecordType};
pub use resolver::happy::{
    CONNECTION_ATTEMPT_DELAY, MAX_CONCURRENT_ATTEMPTS, MAX_CONNECT_ATTEMPTS, RESOLUTION_DELAY,
};
pub use resolver::AAAA_GRACE;
pub use resolver::{close_idle_sockets, connect, resolve, Resolver};
pub use wire::{DecodeError, Problem};
