//! One query to one server: UDP first, TCP when the reply is truncated.
//!
//! Every exchange uses a fresh random ID (from the kernel's `getrandom`)
//! and, by default, a fresh random ephemeral source port: UDP queries go
//! out on a [`channel`], which moves to a new port after
//! `Config::udp_max_queries` queries (default 1: every query). A reply
//! counts only if it comes from the server's address and port, carries the
//! ID and echoes the question (see [`crate::exchange::validate_reply`])
//! and, when the query carried a DNS cookie, echoes that too
//! ([`check_cookie`]).
//! Anything else, including empty datagrams, junk and late replies to
//! earlier queries, is dropped and the wait goes on until the attempt's
//! deadline: nothing a forger or a broken middlebox sends can end the
//! query early.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tern_net::TcpStream;
use tern_runtime::time::timeout_at;

use super::{case, channel};
use crate::error::Error;
use crate::exchange::{check_cookie, classify_step, validate_reply, Asked, Step, Transport};
use crate::name::Name;
use crate::record::RecordType;
use crate::wire::cookie::Cookie;
use crate::wire::{frame_tcp, Message, Rcode};

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

/// How long one step of an exchange (a UDP query, a TCP retry) may take:
/// the attempt's timeout, but never past the lookup's deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limit {
    /// The attempt timeout, per step.
    pub(crate) per_step: Duration,
    /// When the lookup must be over.
    pub(crate) deadline: Instant,
    /// When the attempt started (the runtime's clock): the start of its
    /// first step, which saves reading the clock again.
    pub(crate) started: Instant,
}

impl Limit {
    /// When a step starting now must end.
    fn until(self) -> Instant {
        self.until_from(tern_runtime::time::now())
    }

    /// When a step starting at `start` must end.
    fn until_from(self, start: Instant) -> Instant {
        start
            .checked_add(self.per_step)
            .map_or(self.deadline, |t| t.min(self.deadline))
    }
}

/// Why [`ask`] gave up on a server: the error, and the transport of the
/// step that met it. A UDP query with EDNS that times out may have met a
/// middlebox that drops EDNS; a TCP retry that times out after the server
/// answered over UDP (truncated, or BADCOOKIE) says nothing about EDNS.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) step: Transport,
}

/// `error`, met by a step over `step`.
fn failed(step: Transport) -> impl FnOnce(Error) -> Failed {
    move |error| Failed { error, step }
}

/// Asks `server` about `name`/`rtype` within `limit` per transport step,
/// over UDP channels that change port after `udp_max_queries` queries (see
/// [`channel`]). Returns the reply once it is final for this server: an
/// answer, NXDOMAIN or NODATA; errors mean "try the next server".
///
/// A BADCOOKIE reply to a query with a cookie is asked again at once with
/// the server cookie it brought; a second BADCOOKIE goes to TCP, which
/// carries no cookie (RFC 7873 §5.3).
///
/// With `exact_echo` (0x20 case randomisation, [`super::case`]) a UDP
/// reply whose question is ours in another case fails the attempt before
/// anything is done on its word: a forged FORMERR or BADCOOKIE must not
/// turn EDNS off for the server or send the query to TCP.
pub(crate) async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    mut edns: Option<QueryEdns<'_>>,
    limit: Limit,
    udp_max_queries: u32,
    exact_echo: bool,
) -> Result<Box<Message>, Failed> {
    let mut bad_cookies = 0u8;
    // The first UDP step starts with the attempt; later ones read the clock.
    let mut step_deadline = limit.until_from(limit.started);
    loop {
        let payload = edns.as_ref().map(|e| e.payload);
        let cookie = edns.as_mut().and_then(|e| e.cookie.as_deref_mut());
        let sent_cookie = cookie.is_some();
        let (query, reply) = udp_exchange(
            server,
            (name, rtype, payload),
            cookie,
            step_deadline,
            udp_max_queries,
        )
        .await
        .map_err(failed(Transport::Udp))?;
        if exact_echo {
            case::check_echo(name, &reply).map_err(failed(Transport::Udp))?;
        }
        // The TCP retry asks the same question with the same ID.
        let tcp_query = || Message::query(query.id, name, rtype, payload);
        let bad_cookie = sent_cookie && reply.rcode() == Rcode::BADCOOKIE;
        let to_tcp = matches!(
            classify_step(query.edns, &reply, Transport::Udp),
            Step::RetryTcp
        );
        if !to_tcp && bad_cookie && bad_cookies == 0 {
            bad_cookies += 1;
            step_deadline = limit.until();
            continue;
        }
        // Truncated, or a second BADCOOKIE: over TCP.
        let (reply, transport) = if to_tcp || bad_cookie {
            let reply = Box::pin(tcp_exchange(server, &tcp_query(), limit))
                .await
                .map_err(failed(Transport::Tcp))?;
            (channel::boxed_reply(reply), Transport::Tcp)
        } else {
            (reply, Transport::Udp)
        };
        match classify_step(query.edns, &reply, transport) {
            Step::Done => return Ok(reply),
            // Only offered when the query had EDNS, so this loops once
            // (and drops the cookie with the OPT record).
            Step::RetryWithoutEdns if edns.is_some() => {
                edns = None;
                step_deadline = limit.until();
                continue;
            }
            Step::NextServer(err) => return Err(failed(transport)(err)),
            Step::RetryWithoutEdns | Step::RetryTcp => {
                return Err(failed(transport)(Error::FallbackFailed {
                    server,
                    transport,
                }))
            }
        }
    }
}

/// One query over UDP for `name`/`qtype`, with an OPT record offering
/// `payload` if there is one (and then the cookie, if any): the query sent
/// and the reply accepted, or the error (`Timeout` at `deadline`).
async fn udp_exchange(
    server: SocketAddr,
    (name, qtype, payload): (&Name, RecordType, Option<u16>),
    cookie: Option<&mut Cookie>,
    deadline: Instant,
    udp_max_queries: u32,
) -> Result<(Asked, Box<Message>), Error> {
    let option = cookie.as_deref().map(Cookie::option);
    let sent_client = cookie.as_deref().map(|c| *c.client());
    let option = option.as_ref().map_or(&[][..], |o| o.as_bytes());
    let question = channel::Question {
        name,
        qtype,
        edns: payload.map(|p| (p, option)),
    };
    let ticket = channel::start(server, udp_max_queries, question, sent_client)?;
    // Sent after the other ready tasks have had their turn when there are
    // any (replies to hand out, lookups to start): the queries started in
    // one pass then leave together, in one `sendmmsg` on a shared port and
    // back to back on ports of their own, so a server that sleeps between
    // queries is still busy with the first when the next arrives instead
    // of being woken by each send (the kernel's largest cost in a send).
    // On a channel whose driver runs, the driver sends them when it runs
    // after those tasks: the query needs no turn of its own, which saves
    // its lookup a poll. With nothing else ready the query leaves at once.
    if ticket.waits_its_turn() {
        tern_runtime::yield_now().await;
    }
    match timeout_at(deadline, ticket.exchange()).await {
        Ok((query, Ok(reply))) => {
            // The channel dropped replies with a forged or malformed
            // COOKIE option; this one's server cookie is kept.
            if let (Ok(Some(server_cookie)), Some(cookie)) =
                (check_cookie(sent_client.as_ref(), &reply), cookie)
            {
                cookie.set_server(server_cookie);
            }
            Ok((query, reply))
        }
        Ok((_, Err(e))) => Err(e),
        Err(_) => Err(Error::Timeout),
    }
}

pub(crate) async fn tcp_exchange(
    server: SocketAddr,
    query: &Message,
    limit: Limit,
) -> Result<Message, Error> {
    let deadline = limit.until();
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
