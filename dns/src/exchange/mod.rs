//! The decisions of one query/reply exchange, free of I/O so the async
//! resolver stays a thin loop and every rule here is tested without a
//! network.
//!
//! The resolver, for each name from [`crate::search::search_candidates`]
//! that the cache cannot answer:
//!
//! ```text
//! for server in attempt_plan(&config, rotation):       // attempts × servers
//!     id    = random u16 (getrandom), fresh socket (fresh source port)
//!     query = Message::query(id, &name, rtype, edns)   // edns: config.edns_payload()
//!     send query.encode() to server over UDP
//!     loop until config.timeout:
//!         (bytes, from) = recv into a 65535-byte buffer
//!         if from != server: continue                   // stray datagram
//!         reply = match validate_reply(&query, bytes, Udp):
//!             Err(_reject) => continue                  // junk, spoof, empty: keep waiting
//!             Ok(reply) => reply
//!         match classify(&query, &reply, Udp):
//!             RetryTcp         => reply = exchange over TCP with frame_tcp / tcp_frame_len
//!             RetryWithoutEdns => send again with edns = None
//!             NextServer(err)  => remember err, next server
//!             Done             => return extract_answer(&name, rtype, &reply)
//!     on timeout: remember Error::Timeout, next server
//! NXDOMAIN / NODATA for this name → try the next candidate name
//! ```
//!
//! Results go into the cache with `Cache::insert_result(name, rtype,
//! &result, negative_ttl(&name, &reply), now)`: records for their TTL,
//! NXDOMAIN and NODATA for the [`negative_ttl`] (not at all when it is
//! `None`), other errors never.

mod answer;
mod reply;

pub use answer::{canonical_name, extract_answer, negative_ttl, MAX_CNAME_CHAIN};
pub use reply::{classify, rcode_error, validate_reply, Reject, Step, Transport};

use std::net::SocketAddr;

use crate::config::Config;

/// The servers to ask, in order, one entry per attempt: `config.attempts`
/// rounds over `config.nameservers`. With `config.rotate` each round starts
/// at server `rotation % n` (the resolver passes a counter it bumps per
/// query, spreading load as glibc's `rotate` does); without it, at the first.
/// An empty server list gives an empty plan.
pub fn attempt_plan(config: &Config, rotation: usize) -> Vec<SocketAddr> {
    let servers = &config.nameservers;
    let n = servers.len();
    if n == 0 {
        return Vec::new();
    }
    let start = if config.rotate { rotation % n } else { 0 };
    let rounds = usize::try_from(config.attempts.max(1)).unwrap_or(1);
    (0..rounds)
        .flat_map(|_| (0..n).filter_map(move |i| servers.get((start + i) % n).copied()))
        .collect()
}

#[cfg(test)]
mod tests;
