//! One query to one server: UDP first, TCP when the reply is truncated.
//!
//! Every exchange uses a fresh random ID (from the kernel's `getrandom`)
//! and, by default, a fresh random ephemeral source port: the UDP socket
//! comes from [`super::udp_pool`], which moves a socket to a new port after
//! `Config::udp_max_queries` queries (default 1: every query). The socket
//! is connected to the server, so the kernel delivers only datagrams from
//! the server's address and port; of those, a reply counts only if it
//! carries the ID and echoes the question (see [`validate_reply`]) and,
//! when the query carried a DNS cookie, echoes that too ([`check_cookie`]).
//! Anything else, including empty datagrams, junk and late replies to
//! earlier queries on a reused socket, is dropped and the wait goes on
//! until the attempt's deadline: nothing a forger or a broken middlebox
//! sends can end the query early.
//!
//! Right after the send the socket is read once without waiting: a server
//! on loopback (or one preempting us on this core) has often answered by
//! then, and that receive saves a reactor turn and usually a sleep. The
//! datagram goes through the same checks as any other. When such receives
//! keep missing (a busy or distant server) they stop, but for one probe
//! in 16 sends.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tern_net::TcpStream;
use tern_runtime::time::timeout_at;

use super::udp_pool;
use crate::error::Error;
use crate::exchange::{check_cookie, classify, validate_reply, Step, Transport};
use crate::name::Name;
use crate::record::RecordType;
use crate::wire::cookie::Cookie;
use crate::wire::{frame_tcp, Message, Rcode};

/// Largest DNS message; UDP receive buffers are this big so no datagram is
/// ever cut.
pub(crate) const MAX_MESSAGE: usize = 65_535;

thread_local! {
    /// Random bytes from getrandom, handed out two at a time as query IDs.
    static IDS: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// A fresh query ID from the kernel's CSPRNG (fetched 128 IDs at a time).
pub(crate) fn next_id() -> Result<u16, Error> {
    IDS.with(|ids| take_id(&mut ids.borrow_mut(), tern_runtime::sys::random::fill))
}

/// The next ID from `pool` (bytes, next unread offset), refilled by `fill`
/// when used up. A failed refill fails the query and leaves the pool empty,
/// so no unfilled byte is ever handed out as an ID.
fn take_id(
    pool: &mut (Vec<u8>, usize),
    fill: impl FnOnce(&mut [u8]) -> io::Result<()>,
) -> Result<u16, Error> {
    let (buf, pos) = pool;
    if *pos + 2 > buf.len() {
        let mut fresh = vec![0u8; 256];
        fill(&mut fresh).map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("no random query ID (getrandom): {e}"),
            ))
        })?;
        *buf = fresh;
        *pos = 0;
    }
    let id = match buf.get(*pos..*pos + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => return Err(Error::Io(io::Error::other("query id pool exhausted"))),
    };
    *pos += 2;
    Ok(id)
}

/// What goes into a UDP query's OPT record: the payload size offered and,
/// unless cookies are off, our cookies for the server. An exchange updates
/// the cookie with the server cookie of each reply it accepts.
#[derive(Debug)]
pub(crate) struct QueryEdns<'a> {
    pub(crate) payload: u16,
    pub(crate) cookie: Option<&'a mut Cookie>,
}

/// Asks `server` about `name`/`rtype` within `limit` per transport step,
/// over UDP sockets that change port after `udp_max_queries` queries (see
/// [`udp_pool`]). Returns the reply once it is final for this server: an
/// answer, NXDOMAIN or NODATA; errors mean "try the next server".
///
/// A BADCOOKIE reply to a query with a cookie is asked again at once with
/// the server cookie it brought; a second BADCOOKIE goes to TCP, which
/// carries no cookie (RFC 7873 §5.3).
pub(crate) async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    mut edns: Option<QueryEdns<'_>>,
    limit: Duration,
    udp_max_queries: u32,
    buf: &mut [u8],
) -> Result<Message, Error> {
    let mut bad_cookies = 0u8;
    loop {
        let payload = edns.as_ref().map(|e| e.payload);
        let query = Message::query(next_id()?, name, rtype, payload);
        let cookie = edns.as_mut().and_then(|e| e.cookie.as_deref_mut());
        let sent_cookie = cookie.is_some();
        let reply = udp_exchange(server, &query, cookie, limit, udp_max_queries, buf).await?;
        let bad_cookie = sent_cookie && reply.rcode() == Rcode::BADCOOKIE;
        let (reply, transport) = match classify(&query, &reply, Transport::Udp) {
            Step::RetryTcp => (tcp_exchange(server, &query, limit).await?, Transport::Tcp),
            _ if bad_cookie && bad_cookies == 0 => {
                bad_cookies += 1;
                continue;
            }
            _ if bad_cookie => (tcp_exchange(server, &query, limit).await?, Transport::Tcp),
            _ => (reply, Transport::Udp),
        };
        match classify(&query, &reply, transport) {
            Step::Done => return Ok(reply),
            // Only offered when the query had EDNS, so this loops once
            // (and drops the cookie with the OPT record).
            Step::RetryWithoutEdns if edns.is_some() => edns = None,
            Step::NextServer(err) => return Err(err),
            Step::RetryWithoutEdns | Step::RetryTcp => {
                return Err(Error::FallbackFailed { server, transport })
            }
        }
    }
}

async fn udp_exchange(
    server: SocketAddr,
    query: &Message,
    mut cookie: Option<&mut Cookie>,
    limit: Duration,
    udp_max_queries: u32,
    buf: &mut [u8],
) -> Result<Message, Error> {
    let deadline = tern_runtime::time::now() + limit;
    // Closed, not given back, unless a reply is accepted below.
    let pooled = udp_pool::take(server, udp_max_queries)?;
    let sock = pooled.socket();
    // Send after the other ready tasks have had their turn: queries started
    // in one pass of the run queue then leave back to back, and a server
    // that sleeps between queries is woken once per batch instead of once
    // per query (the wake-up is paid inside our send). A lookup alone
    // runs again at once.
    tern_runtime::yield_now().await;
    let option = cookie.as_deref().map(Cookie::option);
    let sent_client = cookie.as_deref().map(|c| *c.client());
    sock.send(&query.encode_with_option(option.as_ref().map_or(&[], |o| o.as_bytes())))
        .await?;
    let mut early = early_reply(sock, buf);
    let wait = async {
        loop {
            let got = match early.take() {
                Some(got) => got,
                None => sock.recv(buf).await,
            };
            let n = match got {
                Ok(n) => n,
                // ICMP port unreachable: nobody serves DNS there. Failing
                // over at once beats waiting out the timeout.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(Error::Io(io::Error::new(
                        e.kind(),
                        format!("{server}: {e}"),
                    )))
                }
                Err(e) => return Err(Error::Io(e)),
            };
            let Some(datagram) = buf.get(..n) else {
                continue;
            };
            let Ok(reply) = validate_reply(query, datagram, Transport::Udp) else {
                continue;
            };
            // A forged or malformed COOKIE option: dropped like a wrong ID.
            match check_cookie(sent_client.as_ref(), &reply) {
                Ok(Some(server_cookie)) => {
                    if let Some(cookie) = cookie.as_deref_mut() {
                        cookie.set_server(server_cookie);
                    }
                }
                Ok(None) => {}
                Err(_) => continue,
            }
            return Ok(reply);
        }
    };
    let reply = timeout_at(deadline, wait)
        .await
        .unwrap_or(Err(Error::Timeout))?;
    udp_pool::give_back(server, pooled, udp_max_queries);
    Ok(reply)
}

thread_local! {
    /// How often a receive right after the send has found the reply
    /// lately: +2 per hit, -1 per miss, within 0..=EARLY_MAX.
    static EARLY_SCORE: Cell<u8> = const { Cell::new(EARLY_MAX) };
    /// Sends since the last early receive, to try again now and then.
    static EARLY_SKIPPED: Cell<u8> = const { Cell::new(0) };
}

const EARLY_MAX: u8 = 16;
/// Below this score early receives are skipped: they pay (one syscall
/// saves one or two) while at least about a third of them hit.
const EARLY_MIN: u8 = 4;
/// While skipping, one send in this many still tries, to notice when the
/// server has become fast again.
const EARLY_PROBE: u8 = 16;

/// The reply if it is already queued right after the send (a server on
/// loopback often answers before the send returns): one receive now saves
/// a turn of the reactor, and often a sleep. `None` when nothing is queued,
/// or when such receives have been missing lately (a busy or remote
/// server) and this send is not one that probes.
fn early_reply(sock: &tern_net::UdpSocket, buf: &mut [u8]) -> Option<io::Result<usize>> {
    let score = EARLY_SCORE.get();
    if score < EARLY_MIN {
        let skipped = EARLY_SKIPPED.get().wrapping_add(1);
        EARLY_SKIPPED.set(skipped);
        if skipped % EARLY_PROBE != 0 {
            return None;
        }
    }
    match sock.recv_now(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            EARLY_SCORE.set(score.saturating_sub(1));
            None
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        got => {
            EARLY_SCORE.set(score.saturating_add(2).min(EARLY_MAX));
            Some(got)
        }
    }
}

pub(crate) async fn tcp_exchange(
    server: SocketAddr,
    query: &Message,
    limit: Duration,
) -> Result<Message, Error> {
    let deadline = tern_runtime::time::now() + limit;
    let exchange = async {
        let stream = TcpStream::connect(server).await?;
        stream.write_all(&frame_tcp(&query.encode())?).await?;
        loop {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            // The buffer grows to what the length prefix says, up to 65535.
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut body).await?;
            if let Ok(reply) = validate_reply(query, &body, Transport::Tcp) {
                return Ok(reply);
            }
        }
    };
    timeout_at(deadline, exchange)
        .await
        .unwrap_or(Err(Error::Timeout))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_refill_hands_out_no_id() {
        let mut pool = (Vec::new(), 0);
        let failing = |_: &mut [u8]| Err(io::Error::other("entropy gone"));
        assert!(take_id(&mut pool, failing).is_err());
        // The next call must refill again, not hand out the unfilled bytes.
        assert!(take_id(&mut pool, failing).is_err());
        let fill = |b: &mut [u8]| {
            b.fill(0xab);
            Ok(())
        };
        assert_eq!(take_id(&mut pool, fill).unwrap(), 0xabab);
    }
}
