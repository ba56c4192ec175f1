//! The decisions of one query/reply exchange, free of I/O so the async
//! resolver stays a thin loop and every rule here is tested without a
//! network.
//!
//! The resolver, for each name from [`crate::search::search_candidates`]
//! that the cache cannot answer:
//!
//! ```text
//! for server in attempt_plan(&config, rotation):       // attempts × servers
//!     id    = random u16 (getrandom), fresh source port (resolver/channel.rs)
//!     query = Message::query(id, &name, rtype, edns)   // edns: config.edns_payload()
//!     cookie = the server's Cookie (wire::cookie), with EDNS and config.cookies
//!     send query.encode_with_option(cookie.option()) to server over UDP
//!     loop until config.timeout:
//!         (bytes, from) = recvmmsg into 4 KiB slots (a longer datagram: as TC)
//!         if from != server: continue                   // stray datagram
//!         reply = match validate_reply(&query, bytes, Udp):
//!             Err(_reject) => continue                  // junk, spoof, empty: keep waiting
//!             Ok(reply) => reply
//!         match check_cookie(cookie.client(), &reply):
//!             Err(_reject) => continue                  // forged or malformed COOKIE
//!             Ok(server_cookie) => keep it for the server's next query
//!         if BADCOOKIE: ask again at once with the new server cookie; TCP the second time
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

pub use answer::{
    canonical_name, extract_answer, negative_ttl, take_answer, MAX_ANSWER_RECORDS, MAX_CNAME_CHAIN,
};
pub use reply::{check_cookie, classify, rcode_error, validate_reply, Reject, Step, Transport};
pub(crate) use reply::{classify_step, validate_asked, Asked};

use std::net::SocketAddr;

use crate::config::Config;
use crate::one_or_many::OneOrMany;

/// The servers to ask, in order, one entry per attempt: `config.attempts`
/// rounds over `config.nameservers`. With `config.rotate` each round starts
/// at server `rotation % n` (the resolver passes a counter it bumps per
/// query, spreading load as glibc's `rotate` does); without it, at the first.
/// An empty server list gives an empty plan. The plan is lazy, so
/// `attempts = u32::MAX` costs nothing until it is walked (the resolver's
/// per-lookup deadline ends the walk).
pub fn attempt_plan(config: &Config, rotation: usize) -> AttemptPlan {
    AttemptPlan::new(server_round(config, rotation), config.attempts)
}

/// One round of [`attempt_plan`]: every server once, from where `rotation`
/// says with `rotate`, else from the first.
pub(crate) fn server_round(config: &Config, rotation: usize) -> Vec<SocketAddr> {
    let servers = &config.nameservers;
    let n = servers.len();
    let start = if config.rotate && n > 0 {
        rotation % n
    } else {
        0
    };
    (0..n)
        .filter_map(|i| servers.get((start + i) % n).copied())
        .collect()
}

/// The servers to ask, one per attempt: a round of servers repeated
/// `attempts` times (at least once). From [`attempt_plan`].
#[derive(Clone, Debug)]
pub struct AttemptPlan {
    /// The servers in the order to ask them; one server (the usual
    /// configuration) needs no vector.
    round: OneOrMany<SocketAddr>,
    next: usize,
    rounds_left: u32,
}

impl AttemptPlan {
    /// `round` (the servers in the order to ask them) `attempts` times.
    pub fn new(round: Vec<SocketAddr>, attempts: u32) -> AttemptPlan {
        AttemptPlan {
            rounds_left: if round.is_empty() { 0 } else { attempts.max(1) },
            round: OneOrMany::Many(round),
            next: 0,
        }
    }

    /// `server` alone, `attempts` times (at least once): what
    /// [`AttemptPlan::new`] makes of a round of one server.
    pub(crate) fn one(server: SocketAddr, attempts: u32) -> AttemptPlan {
        AttemptPlan {
            rounds_left: attempts.max(1),
            round: OneOrMany::One(server),
            next: 0,
        }
    }

    /// Whether the plan asks nobody.
    pub fn is_empty(&self) -> bool {
        self.rounds_left == 0
    }
}

impl Iterator for AttemptPlan {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        if self.rounds_left == 0 {
            return None;
        }
        let server = self.round.get(self.next).copied();
        self.next += 1;
        if self.next >= self.round.len() {
            self.next = 0;
            self.rounds_left -= 1;
        }
        server
    }
}

#[cfg(test)]
mod tests;
