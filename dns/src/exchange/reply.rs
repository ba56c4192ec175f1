//! Deciding about one datagram or TCP message that arrived for a query:
//! [`validate_reply`] says whether it is the reply at all, [`classify`] says
//! what to do with a reply that is.

use std::fmt;

use crate::error::{malformed, Error};
use crate::name::Name;
use crate::record::RecordType;
use crate::wire::cookie::{find_cookie, ReplyCookie, CLIENT_COOKIE_LEN};
use crate::wire::{Header, Message, Problem, Rcode, Staged, OPCODE_QUERY};

/// How a reply arrived; truncation means something only over UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A datagram, which may be truncated (TC).
    Udp,
    /// A length-prefixed message on a TCP stream.
    Tcp,
}

/// Why a received message is not the reply to our query. The resolver drops
/// it and keeps waiting for the real reply until its timeout.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reject {
    /// The QR bit is clear: a query, not a response.
    NotResponse,
    /// The ID is not the one we sent.
    IdMismatch {
        /// The ID of our query.
        expected: u16,
        /// The ID in the message.
        got: u16,
    },
    /// The opcode is not the one we sent (an UPDATE or NOTIFY "reply").
    OpcodeMismatch {
        /// The opcode of our query.
        expected: u8,
        /// The opcode in the message.
        got: u8,
    },
    /// The question section does not echo our question.
    QuestionMismatch,
    /// The message could not be decoded (this includes empty datagrams).
    Malformed(Error),
    /// The reply's COOKIE option echoes another client cookie than the one
    /// the query carried: forged, or meant for someone else.
    CookieMismatch,
    /// The reply's COOKIE option has a length RFC 7873 does not allow.
    CookieMalformed {
        /// The option's length.
        len: usize,
    },
    /// A BADCOOKIE reply to a query with a cookie carries no server cookie
    /// to retry with (RFC 7873 §5.3: only a forger sends that).
    BadCookieWithoutCookie,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::NotResponse => f.write_str("message is not a response (QR clear)"),
            Reject::IdMismatch { expected, got } => {
                write!(
                    f,
                    "reply ID {got:#06x} does not match query ID {expected:#06x}"
                )
            }
            Reject::OpcodeMismatch { expected, got } => {
                write!(
                    f,
                    "reply opcode {got} does not match query opcode {expected}"
                )
            }
            Reject::QuestionMismatch => f.write_str("reply does not echo the question"),
            Reject::Malformed(err) => write!(f, "undecodable reply: {err}"),
            Reject::CookieMismatch => {
                f.write_str("reply's client cookie does not match the query's")
            }
            Reject::CookieMalformed { len } => {
                write!(f, "reply's COOKIE option has a bad length ({len} bytes)")
            }
            Reject::BadCookieWithoutCookie => {
                f.write_str("BADCOOKIE reply carries no server cookie")
            }
        }
    }
}

/// Checks that `reply` answers `query` (RFC 5452 §9.1): QR set, same ID,
/// same opcode, and the question echoed — same type and class, name equal
/// ignoring case. The caller has already checked that it came from the
/// server asked. The header and the question are checked before the rest of
/// the message is decoded, so a forged or stray datagram costs no more than
/// its first few dozen bytes.
///
/// Returns the decoded reply. A truncated UDP reply (TC) whose later
/// sections are cut short is returned with just its header and question.
///
/// Two kinds of reply are accepted without a question section, since
/// servers send them so and they only make the resolver move on: a
/// truncated UDP reply (the resolver retries over TCP), and an error reply
/// (FORMERR, SERVFAIL, NOTIMP, REFUSED: it tries elsewhere). Answers and
/// NXDOMAIN must always echo the question.
pub fn validate_reply(
    query: &Message,
    reply: &[u8],
    transport: Transport,
) -> Result<Message, Reject> {
    let (truncated, questionless_ok) =
        check_header(query.header.id, query.header.opcode, reply, transport)?;
    let check = |head: &Message| {
        let questionless = head.questions.is_empty() && questionless_ok;
        if !questionless && head.questions != query.questions {
            return Err(Reject::QuestionMismatch);
        }
        Ok(())
    };
    accept(Message::decode_staged(reply, check), truncated)
}

/// A UDP query as the resolver keeps it while it waits for the reply: what
/// the reply must echo, without the [`Message`] it was encoded from
/// ([`Message::query`] with these fields).
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    /// The query's ID.
    pub(crate) id: u16,
    /// The name asked, in the case it was sent.
    pub(crate) name: Name,
    /// The type asked (class IN).
    pub(crate) qtype: RecordType,
    /// The query carried an OPT record.
    pub(crate) edns: bool,
}

/// [`validate_reply`] over UDP for the query `asked` describes, comparing
/// the echoed question on the wire instead of decoding it
/// ([`Message::decode_echoing`]): it accepts the datagrams `validate_reply`
/// accepts, and the message it returns is the same except that its
/// question section is left empty when the question was echoed byte for
/// byte.
pub(crate) fn validate_asked(asked: &Asked, reply: &[u8]) -> Result<Message, Reject> {
    let (truncated, questionless_ok) = check_header(asked.id, OPCODE_QUERY, reply, Transport::Udp)?;
    let staged = Message::decode_echoing(
        reply,
        &asked.name,
        asked.qtype,
        questionless_ok,
        Reject::QuestionMismatch,
    );
    accept(staged, truncated)
}

/// The header checks of [`validate_reply`]: QR set, the ID and the opcode
/// sent. Whether the reply counts as truncated, and whether it may come
/// without a question section.
fn check_header(
    id: u16,
    opcode: u8,
    reply: &[u8],
    transport: Transport,
) -> Result<(bool, bool), Reject> {
    let header = Header::decode(reply).map_err(Reject::Malformed)?;
    if !header.qr {
        return Err(Reject::NotResponse);
    }
    if header.id != id {
        return Err(Reject::IdMismatch {
            expected: id,
            got: header.id,
        });
    }
    if header.opcode != opcode {
        return Err(Reject::OpcodeMismatch {
            expected: opcode,
            got: header.opcode,
        });
    }
    let truncated = header.tc && transport == Transport::Udp;
    let error_reply = matches!(
        header.rcode,
        Rcode::FORMERR | Rcode::SERVFAIL | Rcode::NOTIMP | Rcode::REFUSED
    );
    Ok((truncated, truncated || error_reply))
}

/// The reply a staged decode came to: a truncated reply whose later
/// sections are cut short counts with its head alone.
fn accept(staged: Staged<Reject>, truncated: bool) -> Result<Message, Reject> {
    match staged {
        Staged::Done(message) => Ok(message),
        Staged::RestFailed(head, _) if truncated => Ok(head),
        Staged::RestFailed(_, err) | Staged::HeadFailed(err) => Err(Reject::Malformed(err)),
        Staged::Rejected(reject) => Err(reject),
    }
}

/// Checks a reply that [`validate_reply`] accepted against the client
/// cookie its query carried (`None`: the query had no COOKIE option), as
/// RFC 7873 §5.3 says: a COOKIE option of a bad length, or one that echoes
/// another client cookie, means the reply is dropped and the wait goes on,
/// as for a wrong ID; so does a BADCOOKIE reply without a server cookie.
/// A reply with no COOKIE option is fine (most servers send none).
///
/// Returns the server cookie to keep for the next query to this server,
/// if the reply has one.
pub fn check_cookie<'a>(
    sent: Option<&[u8; CLIENT_COOKIE_LEN]>,
    reply: &'a Message,
) -> Result<Option<&'a [u8]>, Reject> {
    let Some(sent) = sent else {
        return Ok(None);
    };
    let found = reply
        .edns
        .as_ref()
        .map_or(ReplyCookie::Absent, |e| find_cookie(&e.options));
    let server = match found {
        ReplyCookie::Absent => None,
        ReplyCookie::Malformed { len } => return Err(Reject::CookieMalformed { len }),
        ReplyCookie::Present { client, .. } if client != *sent => {
            return Err(Reject::CookieMismatch)
        }
        ReplyCookie::Present { server, .. } => Some(server).filter(|s| !s.is_empty()),
    };
    if server.is_none() && reply.rcode() == Rcode::BADCOOKIE {
        return Err(Reject::BadCookieWithoutCookie);
    }
    Ok(server)
}

/// What the resolver does next with an accepted reply.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// The reply is final (NOERROR or NXDOMAIN): hand it to
    /// [`super::extract_answer`], and cache what comes out.
    Done,
    /// The UDP reply was truncated: ask the same server again over TCP.
    RetryTcp,
    /// The server does not understand EDNS: ask it again without an OPT
    /// record (and remember not to send one to it).
    RetryWithoutEdns,
    /// The server could not answer: ask the next one. The error is what to
    /// report if no server does better.
    NextServer(Error),
}

/// Decides what to do with `reply`, which [`validate_reply`] accepted for
/// `query`:
///
/// - TC over UDP → [`Step::RetryTcp`] (the partial answer is not used);
/// - NOERROR, NXDOMAIN → [`Step::Done`] (NXDOMAIN is final: other servers
///   are not asked);
/// - FORMERR or NOTIMP without an OPT record in the reply, or BADVERS, when
///   the query had one → [`Step::RetryWithoutEdns`] (RFC 6891 §7);
/// - SERVFAIL, REFUSED, NOTIMP, FORMERR and any other code →
///   [`Step::NextServer`] with the error it stands for.
pub fn classify(query: &Message, reply: &Message, transport: Transport) -> Step {
    classify_step(query.edns.is_some(), reply, transport)
}

/// [`classify`] for a query that carried an OPT record (`query_edns`) or not.
pub(crate) fn classify_step(query_edns: bool, reply: &Message, transport: Transport) -> Step {
    if reply.header.tc && transport == Transport::Udp {
        return Step::RetryTcp;
    }
    let rcode = reply.rcode();
    if rcode == Rcode::NOERROR || rcode == Rcode::NXDOMAIN {
        return Step::Done;
    }
    let edns_refused = matches!(rcode, Rcode::FORMERR | Rcode::NOTIMP) && reply.edns.is_none();
    if query_edns && (edns_refused || rcode == Rcode::BADVERS) {
        return Step::RetryWithoutEdns;
    }
    Step::NextServer(rcode_error(rcode).unwrap_or(Error::ServFail))
}

/// The error a response code stands for; NOERROR stands for none.
pub fn rcode_error(rcode: Rcode) -> Option<Error> {
    match rcode {
        Rcode::NOERROR => None,
        Rcode::NXDOMAIN => Some(Error::NxDomain),
        Rcode::REFUSED | Rcode::NOTIMP => Some(Error::Refused),
        Rcode::FORMERR => Some(malformed("query", 0, Problem::FormErr)),
        _ => Some(Error::ServFail),
    }
}
