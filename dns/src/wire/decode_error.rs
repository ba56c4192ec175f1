//! [`DecodeError`]: why bytes could not be read as DNS data — what was
//! being read, at which offset, and what was wrong, in a small `Copy`
//! value (as domain's `ParseError` is), so that a forged or junk datagram
//! costs no allocation to reject.

use std::fmt;

/// What was wrong with the bytes; see [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// The input ended before the field did.
    ShortInput,
    /// A name is longer than 255 bytes.
    NameTooLong,
    /// A compression pointer does not point strictly backwards.
    PointerNotBackwards,
    /// A name follows more compression pointers than a name has labels.
    TooManyPointers,
    /// A label of a reserved type (0x40 or 0x80).
    LabelType(u8),
    /// Bytes are left after the last record.
    TrailingData,
    /// Record data does not fill its RDLENGTH exactly.
    DataLeftOver,
    /// An OPT record outside the additional section, not owned by the
    /// root, or a second one.
    MisplacedOpt,
    /// A CNAME chain loops.
    CnameLoop,
    /// A CNAME chain is longer than `MAX_CNAME_CHAIN`.
    CnameChainTooLong,
    /// The server could not parse our query (FORMERR).
    FormErr,
    /// A message is longer than a TCP length prefix can announce.
    MessageTooLong,
    /// Text that names no record type.
    UnknownRecordType,
    /// A reply's question differs from the query's in letter case while
    /// 0x20 case randomisation is on.
    CaseMismatch,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ShortInput => f.write_str("runs past the end"),
            Problem::NameTooLong => f.write_str("is longer than 255 bytes"),
            Problem::PointerNotBackwards => {
                f.write_str("has a compression pointer that does not point backwards")
            }
            Problem::TooManyPointers => f.write_str("follows too many compression pointers"),
            Problem::LabelType(t) => write!(f, "has an unsupported label type 0x{t:02x}"),
            Problem::TrailingData => f.write_str("is followed by trailing data"),
            Problem::DataLeftOver => f.write_str("has bytes left over in its RDLENGTH"),
            Problem::MisplacedOpt => f.write_str("is an OPT record out of place"),
            Problem::CnameLoop => f.write_str("loops"),
            Problem::CnameChainTooLong => f.write_str("is longer than 16 links"),
            Problem::FormErr => f.write_str("could not be parsed by the server (FORMERR)"),
            Problem::MessageTooLong => {
                f.write_str("is longer than the 65535 bytes a TCP length prefix can carry")
            }
            Problem::UnknownRecordType => f.write_str("names no known record type"),
            Problem::CaseMismatch => {
                f.write_str("does not echo the letter case of the query (0x20)")
            }
        }
    }
}

/// Why DNS data could not be decoded: the field being read, the offset
/// where the problem is, and the problem. Small and `Copy`: building one
/// allocates nothing.
///
/// ```
/// use tern_dns::wire::{Message, Problem};
/// use tern_dns::Error;
/// let Err(Error::Malformed(e)) = Message::decode(&[0; 5]) else { panic!() };
/// assert_eq!((e.what(), e.offset(), e.problem()), ("header", 4, Problem::ShortInput));
/// assert_eq!(e.to_string(), "header at offset 4 runs past the end");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    what: &'static str,
    offset: usize,
    problem: Problem,
}

impl DecodeError {
    /// `what` (the field being read) at `offset` has `problem`.
    pub fn new(what: &'static str, offset: usize, problem: Problem) -> DecodeError {
        DecodeError {
            what,
            offset,
            problem,
        }
    }

    /// The field being read: `"question name"`, `"record TTL"`, ...
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Where in the message the problem is (0 for problems that have no
    /// place, such as a CNAME loop).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong.
    pub fn problem(&self) -> Problem {
        self.problem
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {} {}",
            self.what, self.offset, self.problem
        )
    }
}

impl std::error::Error for DecodeError {}
