//! What a resolver learns about its name servers: which ones fail, how
//! fast each answers, and which ones do not take EDNS.
//!
//! - **Health** (as c-ares since 1.22 and hickory keep it): each server
//!   has a count of consecutive failures (timeouts, I/O errors, REFUSED)
//!   and a smoothed round-trip time. A server that failed is asked after
//!   the healthy ones until its retry delay is over (1 s after the first
//!   failure, doubling with each further one, at most [`MAX_RETRY_DELAY`]);
//!   then it takes its configured place again, and the next query probes
//!   it. Any answer resets its failure count.
//! - **EDNS**: a server that answers an EDNS query without an OPT record
//!   (it refused EDNS, or ignores it) is asked without EDNS from then on,
//!   for [`EDNS_MEMORY`]; so is one whose EDNS query timed out over UDP
//!   when the same query without EDNS then got an answer (a firewall that
//!   drops EDNS or large replies; a TCP retry that timed out after a UDP
//!   reply does not count, since that reply got through with EDNS).
//! - **Cookies** (RFC 7873): each server gets a client cookie of its own,
//!   random, kept for [`CLIENT_COOKIE_LIFETIME`] and then replaced, so
//!   servers cannot tie our queries to each other; and the server cookie
//!   it last gave us, sent back in the next query.
//!
//! # Implementation
//!
//! A small map from address to [`ServerState`], kept in the resolver
//! behind a `RefCell`. Every method takes `now`, so the rules are tested
//! without a clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::wire::cookie::{Cookie, CLIENT_COOKIE_LEN};

/// The longest a failed server waits before it is probed again.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// How long a server stays "no EDNS" before EDNS is offered to it again.
pub(crate) const EDNS_MEMORY: Duration = Duration::from_secs(3600);
/// How long a client cookie is used before a new one replaces it (and the
/// server cookie learned with it is forgotten): a day, as c-ares does.
pub(crate) const CLIENT_COOKIE_LIFETIME: Duration = Duration::from_secs(86_400);
/// The retry delay after the first failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// What is known about one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerState {
    /// Failures since its last answer.
    pub(crate) failures: u32,
    /// When it last failed.
    pub(crate) last_failure: Option<Instant>,
    /// Smoothed round-trip time (RFC 6298's 7/8 weighting).
    pub(crate) srtt: Option<Duration>,
    /// Until when queries to it go without EDNS.
    pub(crate) no_edns_until: Option<Instant>,
    /// Our cookies for it, and when the client cookie expires (`None`:
    /// never, past the clock's range).
    pub(crate) cookie: Option<(Cookie, Option<Instant>)>,
}

impl ServerState {
    /// Whether it failed and its retry delay is not over at `now`.
    fn penalised(&self, now: Instant) -> bool {
        let Some(last) = self.last_failure else {
            return false;
        };
        if self.failures == 0 {
            return false;
        }
        let shift = self.failures.saturating_sub(1).min(16);
        let delay = FIRST_RETRY_DELAY
            .saturating_mul(1 << shift)
            .min(MAX_RETRY_DELAY);
        now < last + delay
    }
}

/// A fresh client cookie: four query IDs' worth of the kernel's random
/// bytes, from the same pool (so a failed `getrandom` fails the query
/// rather than hand out unfilled bytes).
pub(crate) fn next_client_cookie() -> Result<[u8; CLIENT_COOKIE_LEN], Error> {
    let mut cookie = [0u8; CLIENT_COOKIE_LEN];
    for pair in cookie.chunks_exact_mut(2) {
        pair.copy_from_slice(&super::transport::next_id()?.to_be_bytes());
    }
    Ok(cookie)
}

/// The state of every server a resolver has asked.
#[derive(Debug, Default)]
pub(crate) struct Servers {
    /// A list: a resolver asks a handful of servers, and comparing a few
    /// addresses is cheaper than hashing one.
    states: Vec<(SocketAddr, ServerState)>,
}

impl Servers {
    fn get(&self, server: &SocketAddr) -> Option<&ServerState> {
        self.states
            .iter()
            .find(|(s, _)| s == server)
            .map(|(_, st)| st)
    }

    fn get_mut(&mut self, server: &SocketAddr) -> Option<&mut ServerState> {
        self.states
            .iter_mut()
            .find(|(s, _)| s == server)
            .map(|(_, st)| st)
    }

    fn entry(&mut self, server: SocketAddr) -> &mut ServerState {
        let at = match self.states.iter().position(|(s, _)| *s == server) {
            Some(at) => at,
            None => {
                self.states.push((server, ServerState::default()));
                self.states.len() - 1
            }
        };
        &mut self.states[at].1
    }

    /// `round` (servers in configured or rotated order) reordered for a
    /// query at `now`: servers in good standing first, in the given order;
    /// then penalised ones, fewest failures first, then fastest.
    pub(crate) fn order(&self, mut round: Vec<SocketAddr>, now: Instant) -> Vec<SocketAddr> {
        let key = |s: &SocketAddr| match self.get(s) {
            Some(state) if state.penalised(now) => {
                (true, state.failures, state.srtt.unwrap_or(Duration::MAX))
            }
            _ => (false, 0, Duration::ZERO),
        };
        round.sort_by_key(key);
        round
    }

    /// The server answered, after `rtt` if that was measured (it is not
    /// with a single server, which has nothing to be ordered against).
    pub(crate) fn answered(&mut self, server: SocketAddr, rtt: Option<Duration>) {
        let state = self.entry(server);
        state.failures = 0;
        if let Some(rtt) = rtt {
            state.srtt = Some(match state.srtt {
                None => rtt,
                Some(srtt) => (srtt.saturating_mul(7) + rtt) / 8,
            });
        }
    }

    /// The server timed out, failed or refused at `now`.
    pub(crate) fn failed(&mut self, server: SocketAddr, now: Instant) {
        let state = self.entry(server);
        state.failures = state.failures.saturating_add(1);
        state.last_failure = Some(now);
    }

    /// Whether queries to `server` go with EDNS at `now`.
    pub(crate) fn edns_ok(&self, server: SocketAddr, now: Instant) -> bool {
        self.get(&server)
            .and_then(|s| s.no_edns_until)
            .is_none_or(|until| now >= until)
    }

    /// From `now` on, ask `server` without EDNS (for [`EDNS_MEMORY`]).
    pub(crate) fn refuses_edns(&mut self, server: SocketAddr, now: Instant) {
        self.entry(server).no_edns_until = now.checked_add(EDNS_MEMORY);
    }

    /// The cookies to send `server` at `now`: its client cookie, made with
    /// `fresh` (random bytes) on first use and after
    /// [`CLIENT_COOKIE_LIFETIME`], and the server cookie it gave last.
    pub(crate) fn cookie(
        &mut self,
        server: SocketAddr,
        now: Instant,
        fresh: impl FnOnce() -> Result<[u8; CLIENT_COOKIE_LEN], Error>,
    ) -> Result<Cookie, Error> {
        let state = self.entry(server);
        match state.cookie {
            // Kept with the instant it expires: a comparison per query.
            Some((cookie, expires)) if expires.is_none_or(|end| now < end) => Ok(cookie),
            _ => {
                let cookie = Cookie::new(fresh()?);
                state.cookie = Some((cookie, now.checked_add(CLIENT_COOKIE_LIFETIME)));
                Ok(cookie)
            }
        }
    }

    /// Keeps the server cookie of `cookie` (as an exchange with `server`
    /// left it) if its client cookie is still the one in use: a lookup
    /// that started before the client cookie was replaced teaches nothing.
    pub(crate) fn learned_cookie(&mut self, server: SocketAddr, cookie: &Cookie) {
        if let Some((kept, _)) = self.get_mut(&server).and_then(|s| s.cookie.as_mut()) {
            if kept.client() == cookie.client() {
                *kept = *cookie;
            }
        }
    }

    /// Forgets every server not in `configured` (resolv.conf was re-read),
    /// keeping what is known about the others: a resolv.conf that keeps
    /// changing its servers does not grow the list.
    pub(crate) fn keep_only(&mut self, configured: &[SocketAddr]) {
        self.states.retain(|(s, _)| configured.contains(s));
    }

    /// Number of servers something is known about.
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// What is known about `server`.
    #[cfg(test)]
    pub(crate) fn state(&self, server: SocketAddr) -> Option<&ServerState> {
        self.get(&server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn failed_servers_go_last_until_their_retry_delay_is_over() {
        let t0 = tern_runtime::time::now();
        let mut servers = Servers::default();
        let round = vec![s(1), s(2), s(3)];
        assert_eq!(servers.order(round.clone(), t0), round);
        servers.failed(s(1), t0);
        assert_eq!(servers.order(round.clone(), t0), [s(2), s(3), s(1)]);
        // After 1 s it is probed again in its own place.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(servers.order(round.clone(), later), round);
        // A second failure doubles the delay.
        servers.failed(s(1), later);
        let t = later + Duration::from_millis(1500);
        assert_eq!(servers.order(round.clone(), t), [s(2), s(3), s(1)]);
        assert_eq!(
            servers.order(round.clone(), later + Duration::from_secs(2)),
            round
        );
        // An answer clears it.
        servers.answered(s(1), Some(Duration::from_millis(3)));
        servers.failed(s(1), t);
        servers.answered(s(1), Some(Duration::from_millis(3)));
        assert_eq!(servers.order(round.clone(), t), round);
    }

    #[test]
    fn penalised_servers_sort_by_failures_then_rtt() {
        let t0 = tern_runtime::time::now();
        let mut servers = Servers::default();
        let round = vec![s(1), s(2), s(3)];
        servers.answered(s(1), Some(Duration::from_millis(50)));
        servers.answered(s(2), Some(Duration::from_millis(5)));
        for server in [s(1), s(2)] {
            servers.failed(server, t0);
        }
        servers.failed(s(3), t0);
        servers.failed(s(3), t0);
        assert_eq!(servers.order(round, t0), [s(2), s(1), s(3)]);
    }

    #[test]
    fn rtt_is_smoothed_and_failures_saturate() {
        let mut servers = Servers::default();
        servers.answered(s(1), Some(Duration::from_millis(80)));
        servers.answered(s(1), Some(Duration::from_millis(0)));
        assert_eq!(
            servers.state(s(1)).unwrap().srtt,
            Some(Duration::from_millis(70))
        );
        let t0 = tern_runtime::time::now();
        for _ in 0..100 {
            servers.failed(s(1), t0);
        }
        assert!(servers
            .state(s(1))
            .unwrap()
            .penalised(t0 + Duration::from_secs(299)));
        assert!(!servers.state(s(1)).unwrap().penalised(t0 + MAX_RETRY_DELAY));
    }

    #[test]
    fn cookies_are_per_server_and_renewed_after_their_lifetime() {
        let t0 = tern_runtime::time::now();
        let mut servers = Servers::default();
        let mut next = 0u8;
        let mut fresh = || {
            next += 1;
            Ok([next; 8])
        };
        let c1 = servers.cookie(s(1), t0, &mut fresh).unwrap();
        let c2 = servers.cookie(s(2), t0, &mut fresh).unwrap();
        assert_eq!((c1.client(), c2.client()), (&[1; 8], &[2; 8]));
        let mut learned = c1;
        assert!(learned.set_server(&[9; 8]));
        servers.learned_cookie(s(1), &learned);
        let again = servers.cookie(s(1), t0, &mut fresh).unwrap();
        assert_eq!((again.client(), again.server()), (&[1; 8], &[9u8; 8][..]));
        // A day later: a new client cookie, and no server cookie.
        let later = t0 + CLIENT_COOKIE_LIFETIME;
        let renewed = servers.cookie(s(1), later, &mut fresh).unwrap();
        assert_eq!((renewed.client(), renewed.server()), (&[3; 8], &[][..]));
        // What an exchange with the old client cookie learned is dropped.
        servers.learned_cookie(s(1), &learned);
        assert!(servers
            .cookie(s(1), later, &mut fresh)
            .unwrap()
            .server()
            .is_empty());
        // No random bytes: no cookie, and nothing kept.
        let failing = || Err(Error::Timeout);
        assert!(servers.cookie(s(3), t0, failing).is_err());
        assert!(servers.state(s(3)).unwrap().cookie.is_none());
    }

    #[test]
    fn servers_no_longer_configured_are_forgotten() {
        let t0 = tern_runtime::time::now();
        let mut servers = Servers::default();
        servers.refuses_edns(s(1), t0);
        servers.failed(s(2), t0);
        servers.answered(s(3), Some(Duration::from_millis(4)));
        servers.keep_only(&[s(3), s(1), s(4)]);
        assert_eq!(servers.len(), 2);
        // Still configured: still known.
        assert!(!servers.edns_ok(s(1), t0));
        assert_eq!(
            servers.state(s(3)).unwrap().srtt,
            Some(Duration::from_millis(4))
        );
        assert!(servers.state(s(2)).is_none());
        servers.keep_only(&[]);
        assert_eq!(servers.len(), 0);
    }

    #[test]
    fn edns_refusal_is_remembered_for_a_while() {
        let t0 = tern_runtime::time::now();
        let mut servers = Servers::default();
        assert!(servers.edns_ok(s(1), t0));
        servers.refuses_edns(s(1), t0);
        assert!(!servers.edns_ok(s(1), t0 + Duration::from_secs(60)));
        assert!(servers.edns_ok(s(2), t0));
        assert!(servers.edns_ok(s(1), t0 + EDNS_MEMORY));
    }
}
