//! [`connect`]: Happy Eyeballs v2 (RFC 8305).
//!
//! AAAA and A queries start together. Connecting starts as soon as AAAA
//! answers, or 50 ms (the resolution delay) after A answers if AAAA has
//! not. Addresses are interleaved by family, IPv6 first; a new connection
//! attempt starts every 250 ms (the connection attempt delay) or at once
//! when the previous one fails. The first connection to complete wins; the
//! other attempts are dropped, closing their sockets.
//!
//! # Implementation
//!
//! One task drives everything from a single `poll_fn`: the two lookups,
//! the two timers and a list of boxed connect futures. Dropping the
//! `connect` future drops all of them, so cancellation leaks nothing.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tern_net::TcpStream;
use tern_runtime::time::{sleep, sleep_until, Sleep};

use super::{addresses, system_resolver, Resolver};
use crate::error::Error;
use crate::record::RecordType;
use crate::search::{ip_literal, localhost_addrs, search_candidates};

/// RFC 8305 §3: how long to wait for AAAA after A has answered.
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);
/// RFC 8305 §5: the pause between starting two connection attempts.
pub const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects to `host:port` with Happy Eyeballs v2, resolving `host` with
/// the thread's system resolver (as [`resolve`](super::resolve) does).
pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    if let Some(ip) = ip_literal(host) {
        return TcpStream::connect(SocketAddr::new(ip, port)).await;
    }
    system_resolver()?.connect(host, port).await
}

type Lookup<'a> = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + 'a>>;
type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

impl Resolver {
    /// Connects to `host:port` with Happy Eyeballs v2 (RFC 8305), resolving
    /// with this resolver.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let known = ip_literal(host)
            .map(|ip| vec![ip])
            .or_else(|| localhost_addrs(host))
            .or_else(|| self.hosts_addrs(host));
        let mut race = match known {
            Some(ips) => Race::new(port, None, None, ips),
            None => {
                search_candidates(host, self.config())?;
                Race::new(
                    port,
                    Some(Box::pin(self.lookup_family(host, RecordType::AAAA))),
                    Some(Box::pin(self.lookup_family(host, RecordType::A))),
                    Vec::new(),
                )
            }
        };
        poll_fn(|cx| race.poll(cx)).await
    }

    /// Addresses of one family, through the search list.
    async fn lookup_family(&self, host: &str, rtype: RecordType) -> Result<Vec<IpAddr>, Error> {
        Ok(addresses(&self.lookup(host, rtype).await?).collect())
    }
}

struct Race<'a> {
    port: u16,
    aaaa: Option<Lookup<'a>>,
    a: Option<Lookup<'a>>,
    /// Set when A answered first: connecting may start when it fires.
    resolution_delay: Option<Sleep>,
    v6: VecDeque<IpAddr>,
    v4: VecDeque<IpAddr>,
    prefer_v6: bool,
    attempts: Vec<Attempt>,
    next_attempt: Sleep,
    started: bool,
    resolve_error: Option<Error>,
    connect_error: Option<io::Error>,
}

impl<'a> Race<'a> {
    fn new(
        port: u16,
        aaaa: Option<Lookup<'a>>,
        a: Option<Lookup<'a>>,
        known: Vec<IpAddr>,
    ) -> Race<'a> {
        let (v6, v4) = known.into_iter().partition(IpAddr::is_ipv6);
        Race {
            port,
            aaaa,
            a,
            resolution_delay: None,
            v6,
            v4,
            prefer_v6: true,
            attempts: Vec::new(),
            next_attempt: sleep(Duration::ZERO),
            started: false,
            resolve_error: None,
            connect_error: None,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        self.poll_lookups(cx);
        loop {
            // Any attempt done?
            let mut i = 0;
            while i < self.attempts.len() {
                match self.attempts[i].as_mut().poll(cx) {
                    Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                    Poll::Ready(Err(e)) => {
                        drop(self.attempts.swap_remove(i));
                        self.connect_error = Some(e);
                        // A failure lets the next attempt start at once.
                        self.next_attempt.reset(Instant::now());
                    }
                    Poll::Pending => i += 1,
                }
            }
            if !self.may_connect(cx) || (self.v6.is_empty() && self.v4.is_empty()) {
                break;
            }
            let due =
                self.attempts.is_empty() || Pin::new(&mut self.next_attempt).poll(cx).is_ready();
            if !due {
                break;
            }
            let Some(ip) = self.next_address() else { break };
            self.started = true;
            self.attempts
                .push(Box::pin(TcpStream::connect(SocketAddr::new(ip, self.port))));
            self.next_attempt
                .reset(Instant::now() + CONNECTION_ATTEMPT_DELAY);
            // Loop: poll the new attempt so it registers its waker.
        }
        let lookups_done = self.aaaa.is_none() && self.a.is_none();
        if lookups_done && self.attempts.is_empty() && self.v6.is_empty() && self.v4.is_empty() {
            return Poll::Ready(Err(self.failure()));
        }
        Poll::Pending
    }

    fn poll_lookups(&mut self, cx: &mut Context<'_>) {
        if let Some(f) = &mut self.aaaa {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                self.aaaa = None;
                self.resolution_delay = None;
                match r {
                    Ok(ips) => self.v6.extend(ips),
                    Err(e) => self.note_resolve_error(e),
                }
            }
        }
        if let Some(f) = &mut self.a {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                self.a = None;
                match r {
                    Ok(ips) => self.v4.extend(ips),
                    Err(e) => self.note_resolve_error(e),
                }
                if self.aaaa.is_some() {
                    self.resolution_delay = Some(sleep_until(Instant::now() + RESOLUTION_DELAY));
                }
            }
        }
    }

    fn note_resolve_error(&mut self, e: Error) {
        // Keep the more telling error: anything beats "no data".
        if !matches!(e, Error::NoData) || self.resolve_error.is_none() {
            self.resolve_error = Some(e);
        }
    }

    /// Whether connection attempts may start: AAAA has answered, or A has
    /// and the resolution delay is over, or no lookup was needed.
    fn may_connect(&mut self, cx: &mut Context<'_>) -> bool {
        if self.started || self.aaaa.is_none() {
            return true;
        }
        match &mut self.resolution_delay {
            Some(delay) => Pin::new(delay).poll(cx).is_ready(),
            None => false,
        }
    }

    fn next_address(&mut self) -> Option<IpAddr> {
        let (first, second) = if self.prefer_v6 {
            (&mut self.v6, &mut self.v4)
        } else {
            (&mut self.v4, &mut self.v6)
        };
        let ip = first.pop_front().or_else(|| second.pop_front())?;
        // Interleave: the next attempt uses the other family.
        self.prefer_v6 = ip.is_ipv4();
        Some(ip)
    }

    fn failure(&mut self) -> io::Error {
        match (self.connect_error.take(), self.resolve_error.take()) {
            (Some(e), _) => e,
            (None, Some(e)) => e.into(),
            (None, None) => io::Error::new(io::ErrorKind::NotFound, "no addresses to connect to"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_interleave_families_ipv6_first() {
        let ips: Vec<IpAddr> = [
            "192.0.2.1",
            "2001:db8::1",
            "192.0.2.2",
            "192.0.2.3",
            "2001:db8::2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut race = Race::new(80, None, None, ips);
        let order: Vec<String> = std::iter::from_fn(|| race.next_address())
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "2001:db8::1",
                "192.0.2.1",
                "2001:db8::2",
                "192.0.2.2",
                "192.0.2.3"
            ]
        );
    }
}
