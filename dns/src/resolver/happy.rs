//! [`connect`]: Happy Eyeballs v2 (RFC 8305).
//!
//! AAAA and A queries for one search candidate start together; the first
//! candidate with addresses of either family is the name connected to (as
//! `lookup_ip` and glibc settle it; see `dual_search.rs`), and the search
//! list goes on only when both families of a candidate came back without
//! data. Connecting starts as soon as AAAA answers, or 50 ms (the
//! resolution delay) after A answers if AAAA has not. Addresses are
//! interleaved by family, IPv6 first (RFC 8305 §4, whatever
//! `Config::sort_rfc6724` says: that orders `lookup_ip` only); a new
//! connection attempt starts every 250 ms (the connection attempt delay)
//! or at once when the previous one fails, at most [`MAX_CONCURRENT_ATTEMPTS`] at once and
//! [`MAX_CONNECT_ATTEMPTS`] in all, within the lookup time plus
//! `Config::connect_timeout`. The first connection to complete wins; the
//! other attempts are dropped, closing their sockets.
//!
//! # Implementation
//!
//! One task drives everything from a single `poll_fn`: the search (two
//! lookups at a time), the timers and a list of boxed connect futures.
//! Dropping the `connect` future drops all of them, so cancellation leaks
//! nothing.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tern_net::TcpStream;
use tern_runtime::time::{sleep, sleep_until, timeout, Sleep};

use super::dual_search::DualSearch;
use super::{deadline_after, system_resolver, Resolver};
use crate::config::CONNECT_TIMEOUT;
use crate::error::Error;
use crate::search::{ip_literal, scoped_ipv6, search_candidates};

/// RFC 8305 §3: how long to wait for AAAA after A has answered.
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);
/// RFC 8305 §5: the pause between starting two connection attempts.
pub const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// The most connection attempts one `connect` starts; the addresses after
/// them are not tried.
pub const MAX_CONNECT_ATTEMPTS: usize = 16;
/// The most connection attempts in flight at once; the next one waits for
/// one of them to fail.
pub const MAX_CONCURRENT_ATTEMPTS: usize = 4;

/// Connects to `host:port` with Happy Eyeballs v2, resolving `host` with
/// the thread's system resolver (as [`resolve`](super::resolve) does).
pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    if let Some(ip) = ip_literal(host) {
        // No resolver needed (and no resolv.conf read); the default
        // `connect_timeout` still bounds the connect.
        return connect_within(SocketAddr::new(ip, port), CONNECT_TIMEOUT).await;
    }
    system_resolver()?.connect(host, port).await
}

/// A connection to `addr` alone, given up after `limit` (an address that
/// drops SYNs would otherwise hold the caller for the kernel's retries,
/// about two minutes).
async fn connect_within(addr: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
    match timeout(limit, TcpStream::connect(addr)).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect tcp {addr}: no connection within {limit:?}"),
        )),
    }
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

impl Resolver {
    /// Connects to `host:port` with Happy Eyeballs v2 (RFC 8305), resolving
    /// with this resolver.
    ///
    /// The search list is walked as [`lookup_ip`](Resolver::lookup_ip)
    /// walks it: both families of one candidate name are asked together,
    /// and the first candidate with addresses of either family is the one
    /// connected to; the other family is taken from that same name only.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        if let Some((ip, zone)) = scoped_ipv6(host) {
            let scope = zone.parse::<u32>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host}: zone {zone:?} is not a numeric interface index"),
                )
            })?;
            let addr = SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope));
            return connect_within(addr, self.config().connect_timeout).await;
        }
        self.refresh();
        // `localhost` and the hosts file give the families `ip_family`
        // asks for, as in `lookup_ip` (none left: on to the DNS).
        let known = ip_literal(host)
            .map(|ip| vec![ip])
            .or_else(|| self.local_addrs(host));
        let mut race = match known {
            Some(ips) => Race::new(port, None, ips),
            None => {
                let names = search_candidates(host, &self.config())?;
                let search = DualSearch::new(self, names, self.deadline());
                Race::new(port, Some(search), Vec::new())
            }
        };
        let time = self
            .config()
            .lookup_time()
            .saturating_add(self.config().connect_timeout);
        race.limits.deadline = Some(sleep_until(deadline_after(time)));
        poll_fn(|cx| race.poll(cx))
            .await
            .map_err(|e| name_host(host, e))
    }
}

/// `err` with `host` in its message (the kind and the inner error kept).
fn name_host(host: &str, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        HostError {
            host: host.into(),
            err,
        },
    )
}

/// An error of `connect` for one host.
#[derive(Debug)]
struct HostError {
    host: String,
    err: io::Error,
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.host, self.err)
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.err.get_ref().map(|e| e as _)
    }
}

/// How far a race may go.
struct Limits {
    attempt_delay: Duration,
    max_attempts: usize,
    max_in_flight: usize,
    /// Fires when `connect` has taken all the time it may.
    deadline: Option<Sleep>,
    /// Starts one connection attempt (a test may put a fake here).
    connect: fn(SocketAddr) -> Attempt,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            attempt_delay: CONNECTION_ATTEMPT_DELAY,
            max_attempts: MAX_CONNECT_ATTEMPTS,
            max_in_flight: MAX_CONCURRENT_ATTEMPTS,
            deadline: None,
            connect: |addr| Box::pin(TcpStream::connect(addr)),
        }
    }
}

struct Race<'a> {
    port: u16,
    limits: Limits,
    /// Connection attempts started so far.
    tried: usize,
    search: Option<DualSearch<'a>>,
    /// Whether the AAAA answer is still awaited.
    aaaa_pending: bool,
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
    fn new(port: u16, search: Option<DualSearch<'a>>, known: Vec<IpAddr>) -> Race<'a> {
        let (v6, v4) = known.into_iter().partition(IpAddr::is_ipv6);
        Race {
            port,
            limits: Limits::default(),
            tried: 0,
            aaaa_pending: search.is_some(),
            search,
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
        if let Some(deadline) = &mut self.limits.deadline {
            if Pin::new(deadline).poll(cx).is_ready() {
                return Poll::Ready(Err(self.out_of_time()));
            }
        }
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
                        self.next_attempt.reset(tern_runtime::time::now());
                    }
                    Poll::Pending => i += 1,
                }
            }
            if !self.may_connect(cx) || (self.v6.is_empty() && self.v4.is_empty()) {
                break;
            }
            if self.tried >= self.limits.max_attempts {
                // The addresses left are not tried.
                self.v6.clear();
                self.v4.clear();
                break;
            }
            if self.attempts.len() >= self.limits.max_in_flight {
                break;
            }
            let due =
                self.attempts.is_empty() || Pin::new(&mut self.next_attempt).poll(cx).is_ready();
            if !due {
                break;
            }
            let Some(ip) = self.next_address() else { break };
            self.started = true;
            self.tried += 1;
            self.attempts
                .push((self.limits.connect)(SocketAddr::new(ip, self.port)));
            self.next_attempt
                .reset(tern_runtime::time::now() + self.limits.attempt_delay);
            // Loop: poll the new attempt so it registers its waker.
        }
        let lookups_done = self.search.is_none();
        if lookups_done && self.attempts.is_empty() && self.v6.is_empty() && self.v4.is_empty() {
            return Poll::Ready(Err(self.failure()));
        }
        Poll::Pending
    }

    fn poll_lookups(&mut self, cx: &mut Context<'_>) {
        let Some(search) = &mut self.search else {
            return;
        };
        let found = search.poll(cx);
        if found.done {
            self.search = None;
        }
        if let Some(r) = found.v6 {
            self.aaaa_pending = false;
            self.resolution_delay = None;
            match r {
                Ok(ips) => self.v6.extend(ips),
                Err(e) => self.note_resolve_error(e),
            }
        }
        if let Some(r) = found.v4 {
            match r {
                Ok(ips) => self.v4.extend(ips),
                Err(e) => self.note_resolve_error(e),
            }
            if self.aaaa_pending && !found.done {
                self.resolution_delay =
                    Some(sleep_until(tern_runtime::time::now() + RESOLUTION_DELAY));
            }
        }
        if found.done {
            self.aaaa_pending = false;
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
        if self.started || !self.aaaa_pending {
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

    /// The error when the deadline fires.
    fn out_of_time(&mut self) -> io::Error {
        let why = match (self.connect_error.take(), self.resolve_error.take()) {
            (Some(e), _) => format!("; last error: {e}"),
            (None, Some(e)) => format!("; last error: {e}"),
            (None, None) => String::new(),
        };
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no connection within the time allowed ({} attempts started){why}",
                self.tried
            ),
        )
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
        let mut race = Race::new(80, None, ips);
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

    use std::cell::Cell;

    thread_local! {
        static STARTED: Cell<usize> = const { Cell::new(0) };
        static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts the attempts in flight while it lives.
    struct InFlight;

    impl InFlight {
        fn new() -> InFlight {
            STARTED.with(|c| c.set(c.get() + 1));
            let now = IN_FLIGHT.with(|c| {
                c.set(c.get() + 1);
                c.get()
            });
            PEAK.with(|p| p.set(p.get().max(now)));
            InFlight
        }
    }

    impl Drop for InFlight {
        fn drop(&mut self) {
            IN_FLIGHT.with(|c| c.set(c.get() - 1));
        }
    }

    fn many_addresses() -> Vec<IpAddr> {
        (0..100u16)
            .map(|i| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i]))
            .chain((0..100u8).map(|i| IpAddr::from([192, 0, 2, i])))
            .collect()
    }

    fn race(connect: fn(SocketAddr) -> Attempt, deadline: Duration) -> io::Result<TcpStream> {
        STARTED.with(|c| c.set(0));
        PEAK.with(|c| c.set(0));
        tern_runtime::block_on(async move {
            let mut race = Race::new(80, None, many_addresses());
            race.limits.attempt_delay = Duration::from_millis(1);
            race.limits.connect = connect;
            race.limits.deadline = Some(sleep(deadline));
            poll_fn(|cx| race.poll(cx)).await
        })
    }

    /// Issue 15, defect 3: 200 addresses that all fail make at most
    /// MAX_CONNECT_ATTEMPTS attempts.
    #[test]
    fn connection_attempts_are_capped_in_number() {
        let err = race(
            |_| {
                Box::pin(async {
                    let _counted = InFlight::new();
                    sleep(Duration::from_millis(1)).await;
                    Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                })
            },
            Duration::from_secs(20),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(STARTED.with(Cell::get), MAX_CONNECT_ATTEMPTS);
    }

    /// Blackholed addresses (attempts that never finish): at most
    /// MAX_CONCURRENT_ATTEMPTS at once, and the deadline ends the race.
    #[test]
    fn connection_attempts_are_capped_in_flight_and_in_time() {
        let err = race(
            |_| {
                Box::pin(async {
                    let _counted = InFlight::new();
                    std::future::pending().await
                })
            },
            Duration::from_millis(50),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(PEAK.with(Cell::get), MAX_CONCURRENT_ATTEMPTS);
        assert_eq!(STARTED.with(Cell::get), MAX_CONCURRENT_ATTEMPTS);
        assert_eq!(IN_FLIGHT.with(Cell::get), 0, "dropped with the race");
    }

    thread_local! {
        static STARTS: std::cell::RefCell<Vec<(IpAddr, Duration)>> =
            const { std::cell::RefCell::new(Vec::new()) };
        static T0: Cell<Option<std::time::Instant>> = const { Cell::new(None) };
    }

    /// RFC 8305 on the paused clock, with fake connects (nothing is sent;
    /// the addresses only name the attempts): IPv6 first, then families
    /// alternating; a new attempt every CONNECTION_ATTEMPT_DELAY while the
    /// others hang, and at once when one fails.
    #[test]
    fn attempts_start_on_the_attempt_delay_and_at_once_after_a_failure() {
        let ips: Vec<IpAddr> = ["127.0.0.1", "127.0.0.2", "::1", "::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let err = tern_runtime::block_on_paused(async move {
            T0.with(|t| t.set(Some(tern_runtime::time::now())));
            let mut race = Race::new(80, None, ips);
            race.limits.connect = |addr| {
                Box::pin(async move {
                    let t0 = T0.with(Cell::get).unwrap();
                    let at = tern_runtime::time::now() - t0;
                    STARTS.with(|s| s.borrow_mut().push((addr.ip(), at)));
                    if addr.ip() == IpAddr::from([127, 0, 0, 1]) {
                        sleep(Duration::from_millis(100)).await;
                        return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
                    }
                    std::future::pending().await
                })
            };
            race.limits.deadline = Some(sleep(Duration::from_secs(2)));
            poll_fn(|cx| race.poll(cx)).await.unwrap_err()
        });
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let ms = Duration::from_millis;
        let want: Vec<(IpAddr, Duration)> = vec![
            ("::1".parse().unwrap(), ms(0)),
            ("127.0.0.1".parse().unwrap(), ms(250)),
            // 127.0.0.1 fails at 350 ms: the next starts then, not at 500.
            ("::2".parse().unwrap(), ms(350)),
            ("127.0.0.2".parse().unwrap(), ms(600)),
        ];
        assert_eq!(STARTS.with(|s| s.borrow().clone()), want);
    }
}
