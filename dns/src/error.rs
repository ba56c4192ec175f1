//! The one error type of tern-dns.
//!
//! Every failure a lookup can meet — an answer from the DNS saying "no", a
//! server that does not answer, a name that cannot be sent, a packet that
//! cannot be read, an I/O error — is a variant of [`Error`]. Callers that live
//! at the `io::Result` boundary (for example `connect`) convert with
//! `From<Error> for io::Error`, which picks a matching [`io::ErrorKind`].

use std::fmt;
use std::io;

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
    /// A packet, a file or a reply could not be understood; the text says
    /// what was wrong.
    Malformed(String),
    /// An operating-system I/O error.
    Io(io::Error),
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
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
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
        };
        match (err, kind) {
            (Error::Io(inner), _) => inner,
            (err, kind) => io::Error::new(kind.unwrap_or(io::ErrorKind::Other), err),
        }
    }
}

/// Shorthand used across the crate: `malformed(format_args!(..))`.
pub(crate) fn malformed(what: impl fmt::Display) -> Error {
    Error::Malformed(what.to_string())
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
        let e = Error::Malformed("pointer loop".into());
        assert_eq!(e.to_string(), "malformed DNS data: pointer loop");
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
            kind(Error::Malformed("x".into())),
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
