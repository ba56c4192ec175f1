//! The 12-byte message header (RFC 1035 §4.1.1) and response codes.
//!
//! [`Header::decode`] reads only these 12 bytes, so a resolver can check the
//! ID, the QR and TC bits and the response code of a datagram cheaply before
//! decoding the rest.

use std::fmt;

use super::decode_error::Problem;
use crate::error::{malformed, Error};

/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 12;

/// A response code: the header's 4 bits, extended to 12 by EDNS (RFC 6891).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server could not parse the query.
    pub const FORMERR: Rcode = Rcode(1);
    /// The server failed to process the query.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server does not implement this kind of query.
    pub const NOTIMP: Rcode = Rcode(4);
    /// The server refuses to answer.
    pub const REFUSED: Rcode = Rcode(5);
    /// The server does not support the EDNS version asked for (extended).
    pub const BADVERS: Rcode = Rcode(16);
    /// The server cookie was missing or wrong (extended, RFC 7873 §8).
    pub const BADCOOKIE: Rcode = Rcode(23);
}

impl fmt::Display for Rcode {
    /// The mnemonic (`"NXDOMAIN"`) or `"RCODE24"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match *self {
            Rcode::NOERROR => "NOERROR",
            Rcode::FORMERR => "FORMERR",
            Rcode::SERVFAIL => "SERVFAIL",
            Rcode::NXDOMAIN => "NXDOMAIN",
            Rcode::NOTIMP => "NOTIMP",
            Rcode::REFUSED => "REFUSED",
            Rcode::BADVERS => "BADVERS",
            Rcode::BADCOOKIE => "BADCOOKIE",
            Rcode(n) => return write!(f, "RCODE{n}"),
        };
        f.write_str(text)
    }
}

/// The opcode of a standard query.
pub const OPCODE_QUERY: u8 = 0;

/// The header's ID and flags. The four section counts are not kept here:
/// they follow from the lengths of [`super::Message`]'s sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Query ID, echoed in the reply.
    pub id: u16,
    /// Set in responses.
    pub qr: bool,
    /// Kind of query, 4 bits ([`OPCODE_QUERY`] is 0).
    pub opcode: u8,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated: the reply did not fit, retry over TCP.
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// Authentic data (RFC 4035).
    pub ad: bool,
    /// Checking disabled (RFC 4035).
    pub cd: bool,
    /// The low 4 bits of the response code; see `Message::rcode` for the
    /// full code including the EDNS extension.
    pub rcode: Rcode,
}

impl Header {
    /// Decodes the ID and flags from the first 12 bytes of `msg`; the rest
    /// of `msg` is not looked at.
    pub fn decode(msg: &[u8]) -> Result<Header, Error> {
        let (id, flags) = match msg.get(..4) {
            Some(&[a, b, c, d]) if msg.len() >= HEADER_LEN => {
                (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))
            }
            _ => return Err(malformed("header", 0, Problem::ShortInput)),
        };
        Ok(Header::from_bits(id, flags))
    }

    /// The header of a recursive query (RD set), as [`super::Message::query`]
    /// makes it.
    pub(crate) fn query(id: u16) -> Header {
        Header {
            id,
            rd: true,
            opcode: OPCODE_QUERY,
            ..Header::default()
        }
    }

    /// The header from its ID and 16 flag bits.
    pub(crate) fn from_bits(id: u16, flags: u16) -> Header {
        let bit = |n: u16| flags & (1 << n) != 0;
        Header {
            id,
            qr: bit(15),
            opcode: ((flags >> 11) & 0x0f) as u8,
            aa: bit(10),
            tc: bit(9),
            rd: bit(8),
            ra: bit(7),
            ad: bit(5),
            cd: bit(4),
            rcode: Rcode(flags & 0x0f),
        }
    }

    /// The 16 flag bits; the opcode and rcode are masked to 4 bits and the
    /// reserved Z bit is 0.
    pub(crate) fn flag_bits(&self) -> u16 {
        let bit = |on: bool, n: u16| if on { 1 << n } else { 0 };
        bit(self.qr, 15)
            | (u16::from(self.opcode & 0x0f) << 11)
            | bit(self.aa, 10)
            | bit(self.tc, 9)
            | bit(self.rd, 8)
            | bit(self.ra, 7)
            | bit(self.ad, 5)
            | bit(self.cd, 4)
            | (self.rcode.0 & 0x0f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for flags in 0..=u16::MAX {
            let h = Header::from_bits(7, flags);
            assert_eq!(h.flag_bits(), flags & !(1 << 6), "{flags:016b}");
        }
    }

    #[test]
    fn decode_reads_only_the_header() {
        let msg = [0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
        let h = Header::decode(&msg).unwrap();
        assert_eq!(h.id, 0x1234);
        assert!(h.qr && h.rd && h.ra && !h.tc && !h.aa);
        assert_eq!(h.rcode, Rcode::NXDOMAIN);
        assert!(Header::decode(&msg[..11]).is_err());
        assert!(Header::decode(&[]).is_err());
    }

    #[test]
    fn rcode_text() {
        assert_eq!(Rcode::SERVFAIL.to_string(), "SERVFAIL");
        assert_eq!(Rcode(23).to_string(), "BADCOOKIE");
        assert_eq!(Rcode(24).to_string(), "RCODE24");
    }
}
