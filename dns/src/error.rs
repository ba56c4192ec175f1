//! The one error type of tern-dns.
//!
//! Every failure a lookup can meet — an answer from the DNS saying "no", a
//! server that does not answer, a name that cannot be sent, a packet that
//! cannot be read, an I/O error — is a variant of [`Error`]. Callers that live
//! at the `io::Result` boundary (for example `connect`) convert with
//! `From<Error> for io::Error`, which picks a matching [`io::ErrorKind`].

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::exchange::Transport;
use crate::wire::{DecodeError, Problem};

/// Why a DNS lookup, a name or a packet failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no records of the requested type (NOERROR,
    /// empty answer).
    NoData,
    /// The server failed to answer (SERVFAIL, or an error code that leaves
    /// the question unanswered).
    ServFail,
    /// The server refused to answer (REFUSED, NOTIMP).
    Refused,
    /// No server answered before the last attempt timed out.
    Timeout,
    /// The name cannot be a domain name; the text says which name and why.
    InvalidName(String),
    /// A packet or a reply could not be understood: what was being read,
    /// where, and what was wrong (a small `Copy` value: rejecting junk
    /// allocates nothing).
    Malformed(DecodeError),
    /// An operating-system I/O error.
    Io(io::Error),
    /// The configuration names no server to ask.
    NoNameservers,
    /// A server's reply called for a fallback — TCP after a truncated
    /// reply, or a query without EDNS after it refused EDNS — and the
    /// reply to the fallback still called for one.
    FallbackFailed {
        /// The server asked.
        server: SocketAddr,
        /// The transport of the last reply.
        transport: Transport,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NxDomain => f.write_str("no such domain"),
            Error::NoData => f.write_str("no records of the requested type"),
            Error::ServFail => f.write_str("name server failed to answer"),
            Error::Refused => f.write_str("name server refused to answer"),
            Error::Timeout => f.write_str("no name server answered in time"),
            Error::InvalidName(why) => write!(f, "invalid domain name {why}"),
            Error::Malformed(why) => write!(f, "malformed DNS data: {why}"),
            Error::Io(err) => write!(f, "I/O error: {err}"),
            Error::NoNameservers => f.write_str("no name servers configured"),
            Error::FallbackFailed { server, transport } => write!(
                f,
                "{server}: protocol fallback failed (reply over {transport:?} still truncated \
                 or refusing EDNS)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            Error::Malformed(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(err)
    }
}

impl From<Error> for io::Error {
    /// Maps each variant to the closest [`io::ErrorKind`]; an [`Error::Io`]
    /// is handed back unchanged.
    fn from(err: Error) -> io::Error {
        let kind = match &err {
            Error::Io(_) => None,
            Error::NxDomain | Error::NoData => Some(io::ErrorKind::NotFound),
            Error::Timeout => Some(io::ErrorKind::TimedOut),
            Error::InvalidName(_) => Some(io::ErrorKind::InvalidInput),
            Error::Malformed(_) => Some(io::ErrorKind::InvalidData),
            Error::ServFail => Some(io::ErrorKind::Other),
            Error::Refused => Some(io::ErrorKind::ConnectionRefused),
            Error::NoNameservers => Some(io::ErrorKind::NotFound),
            Error::FallbackFailed { .. } => Some(io::ErrorKind::InvalidData),
        };
        match (err, kind) {
            (Error::Io(inner), _) => inner,
            (err, kind) => io::Error::new(kind.unwrap_or(io::ErrorKind::Other), err),
        }
    }
}

/// Shorthand used across the crate: `what` at `offset` has `problem`.
pub(crate) fn malformed(what: &'static str, offset: usize, problem: Problem) -> Error {
    Error::Malformed(DecodeError::new(what, offset, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_problem() {
        assert_eq!(Error::NxDomain.to_string(), "no such domain");
        assert_eq!(
            Error::Timeout.to_string(),
            "no name server answered in time"
        );
        let e = Error::InvalidName("\"a..b\": empty label".into());
        assert_eq!(e.to_string(), "invalid domain name \"a..b\": empty label");
        let e = malformed("question name", 12, Problem::PointerNotBackwards);
        assert_eq!(
            e.to_string(),
            "malformed DNS data: question name at offset 12 has a compression pointer \
             that does not point backwards"
        );
        assert_eq!(
            Error::NoNameservers.to_string(),
            "no name servers configured"
        );
        let e = Error::FallbackFailed {
            server: "192.0.2.1:53".parse().unwrap(),
            transport: Transport::Tcp,
        };
        assert!(e
            .to_string()
            .starts_with("192.0.2.1:53: protocol fallback failed"));
    }

    #[test]
    fn io_conversion_picks_kinds() {
        let kind = |e: Error| io::Error::from(e).kind();
        assert_eq!(kind(Error::Timeout), io::ErrorKind::TimedOut);
        assert_eq!(kind(Error::NxDomain), io::ErrorKind::NotFound);
        assert_eq!(kind(Error::NoData), io::ErrorKind::NotFound);
        assert_eq!(
            kind(Error::InvalidName("x".into())),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(malformed("x", 0, Problem::ShortInput)),
            io::ErrorKind::InvalidData
        );
        assert_eq!(kind(Error::Refused), io::ErrorKind::ConnectionRefused);
        let inner = io::Error::new(io::ErrorKind::AddrInUse, "busy");
        let back = io::Error::from(Error::from(inner));
        assert_eq!(back.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(back.to_string(), "busy");
    }

    #[test]
    fn io_source_is_kept() {
        use std::error::Error as _;
        let e = Error::Io(io::Error::other("disk"));
        assert!(e.source().is_some());
        assert!(Error::NxDomain.source().is_none());
        // The converted io::Error wraps the dns error as its inner error.
        let io = io::Error::from(Error::NxDomain);
        assert_eq!(io.to_string(), "no such domain");
    }
}
