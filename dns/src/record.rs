//! Resource records: [`RecordType`], [`Record`] and its data, [`RData`].
//!
//! These are the decoded, owned forms that lookups return and the cache
//! keeps. The wire codec in [`crate::wire`] turns them into bytes and back.
//! All records are of class IN; the codec skips records of other classes.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::Error;
use crate::name::Name;
use crate::wire::{DecodeError, Problem};

/// The type of a record or a question (RFC 1035 §3.2.2 and later RFCs).
///
/// Types without a variant of their own are [`RecordType::Other`]; that
/// includes OPT (41), which the codec turns into [`crate::wire::Edns`].
/// `RecordType::from(28)` is always `AAAA`, never `Other(28)`, and types
/// compare and hash by their number: `RecordType::Other(28) ==
/// RecordType::AAAA`, so a lookup, an answer filter or a cache key means the
/// same type however it was written. [`RecordType::normalized`] gives the
/// named variant for `match`.
#[derive(Clone, Copy, Debug)]
pub enum RecordType {
    /// IPv4 address (1).
    A,
    /// IPv6 address (28).
    AAAA,
    /// Canonical name, an alias (5).
    CNAME,
    /// Name server (2).
    NS,
    /// Pointer, for reverse lookups (12).
    PTR,
    /// Mail exchange (15).
    MX,
    /// Text strings (16).
    TXT,
    /// Service location (33).
    SRV,
    /// Start of authority (6).
    SOA,
    /// Any other type, by number.
    Other(u16),
}

impl PartialEq for RecordType {
    fn eq(&self, other: &RecordType) -> bool {
        self.to_u16() == other.to_u16()
    }
}

impl Eq for RecordType {}

impl std::hash::Hash for RecordType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_u16().hash(state);
    }
}

impl RecordType {
    /// The same type with its named variant when it has one:
    /// `Other(28).normalized()` is `AAAA`.
    pub fn normalized(self) -> RecordType {
        RecordType::from_u16(self.to_u16())
    }

    /// The type's number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::NS => 2,
            RecordType::CNAME => 5,
            RecordType::SOA => 6,
            RecordType::PTR => 12,
            RecordType::MX => 15,
            RecordType::TXT => 16,
            RecordType::AAAA => 28,
            RecordType::SRV => 33,
            RecordType::Other(n) => n,
        }
    }

    /// The type with this number; unknown numbers give [`RecordType::Other`].
    pub fn from_u16(n: u16) -> RecordType {
        match n {
            1 => RecordType::A,
            2 => RecordType::NS,
            5 => RecordType::CNAME,
            6 => RecordType::SOA,
            12 => RecordType::PTR,
            15 => RecordType::MX,
            16 => RecordType::TXT,
            28 => RecordType::AAAA,
            33 => RecordType::SRV,
            n => RecordType::Other(n),
        }
    }
}

impl From<u16> for RecordType {
    fn from(n: u16) -> RecordType {
        RecordType::from_u16(n)
    }
}

impl From<RecordType> for u16 {
    fn from(t: RecordType) -> u16 {
        t.to_u16()
    }
}

impl fmt::Display for RecordType {
    /// The mnemonic (`"AAAA"`), or `"TYPE65"` for types without a variant
    /// (RFC 3597 §5).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.normalized() {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
            RecordType::NS => "NS",
            RecordType::PTR => "PTR",
            RecordType::MX => "MX",
            RecordType::TXT => "TXT",
            RecordType::SRV => "SRV",
            RecordType::SOA => "SOA",
            RecordType::Other(n) => return write!(f, "TYPE{n}"),
        };
        f.write_str(text)
    }
}

impl FromStr for RecordType {
    type Err = Error;

    /// Parses a mnemonic or `TYPEnnn`, ignoring case.
    fn from_str(text: &str) -> Result<RecordType, Error> {
        let upper = text.to_ascii_uppercase();
        let known = match upper.as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "CNAME" => RecordType::CNAME,
            "NS" => RecordType::NS,
            "PTR" => RecordType::PTR,
            "MX" => RecordType::MX,
            "TXT" => RecordType::TXT,
            "SRV" => RecordType::SRV,
            "SOA" => RecordType::SOA,
            _ => {
                return upper
                    .strip_prefix("TYPE")
                    .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|digits| digits.parse::<u16>().ok())
                    .map(RecordType::from_u16)
                    .ok_or(Error::Malformed(DecodeError::new(
                        "record type",
                        0,
                        Problem::UnknownRecordType,
                    )))
            }
        };
        Ok(known)
    }
}

/// One resource record of class IN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub name: Name,
    /// Time to live in seconds, as received (the cache counts it down).
    pub ttl: u32,
    /// The type-specific data; it also fixes the record's type.
    pub data: RData,
}

impl Record {
    /// The record's type, taken from its data.
    pub fn rtype(&self) -> RecordType {
        self.data.rtype()
    }
}

impl fmt::Display for Record {
    /// Zone-file form, as dig prints it: `www.example. 300 IN A 192.0.2.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} IN {} {}",
            self.name,
            self.ttl,
            self.rtype(),
            self.data
        )
    }
}

/// The data of a record, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    AAAA(Ipv6Addr),
    /// The canonical name this owner is an alias of.
    CNAME(Name),
    /// An authoritative name server for the owner's zone.
    NS(Name),
    /// The name a reverse-lookup name points to.
    PTR(Name),
    /// A mail exchange.
    MX {
        /// Lower is preferred.
        preference: u16,
        /// The mail server's name.
        exchange: Name,
    },
    /// One or more character strings of up to 255 bytes each (longer strings
    /// are split into 255-byte pieces when encoded).
    TXT(Vec<Vec<u8>>),
    /// A service location (RFC 2782).
    SRV {
        /// Lower is tried first.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// The service's port.
        port: u16,
        /// The host providing the service (`.` for "not available").
        target: Name,
    },
    /// Start of a zone of authority; its `minimum` bounds negative caching.
    SOA {
        /// The primary name server.
        mname: Name,
        /// The mailbox of the person responsible, as a name.
        rname: Name,
        /// Version number of the zone.
        serial: u32,
        /// Seconds between secondary refreshes.
        refresh: u32,
        /// Seconds before a failed refresh is retried.
        retry: u32,
        /// Seconds after which a secondary stops answering.
        expire: u32,
        /// TTL for negative answers (RFC 2308).
        minimum: u32,
    },
    /// Data of a type without a variant, kept as raw bytes.
    Other {
        /// The type's number.
        rtype: u16,
        /// The record data, uninterpreted.
        data: Vec<u8>,
    },
}

impl RData {
    /// Bytes this data holds on the heap (names and byte strings), for the
    /// cache's byte limit.
    pub fn heap_bytes(&self) -> usize {
        match self {
            RData::A(_) | RData::AAAA(_) => 0,
            RData::CNAME(n) | RData::NS(n) | RData::PTR(n) => n.wire_len(),
            RData::MX { exchange, .. } => exchange.wire_len(),
            RData::SRV { target, .. } => target.wire_len(),
            RData::SOA { mname, rname, .. } => mname.wire_len() + rname.wire_len(),
            RData::TXT(strings) => strings.iter().map(|s| s.len() + 24).sum(),
            RData::Other { data, .. } => data.len(),
        }
    }

    /// The record type this data belongs to.
    pub fn rtype(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::AAAA(_) => RecordType::AAAA,
            RData::CNAME(_) => RecordType::CNAME,
            RData::NS(_) => RecordType::NS,
            RData::PTR(_) => RecordType::PTR,
            RData::MX { .. } => RecordType::MX,
            RData::TXT(_) => RecordType::TXT,
            RData::SRV { .. } => RecordType::SRV,
            RData::SOA { .. } => RecordType::SOA,
            RData::Other { rtype, .. } => RecordType::from_u16(*rtype),
        }
    }
}

impl fmt::Display for RData {
    /// Presentation format; unknown types use RFC 3597's `\# LEN HEX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(ip) => write!(f, "{ip}"),
            RData::AAAA(ip) => write!(f, "{ip}"),
            RData::CNAME(n) | RData::NS(n) | RData::PTR(n) => write!(f, "{n}"),
            RData::MX {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::TXT(strings) => {
                for (i, s) in strings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write_quoted(f, s)?;
                }
                Ok(())
            }
            RData::SRV {
                priority,
                weight,
                port,
                target,
            } => {
                write!(f, "{priority} {weight} {port} {target}")
            }
            RData::SOA {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
            ),
            RData::Other { data, .. } => {
                write!(f, "\\# {}", data.len())?;
                if !data.is_empty() {
                    f.write_str(" ")?;
                }
                data.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A character string in double quotes, with `"` and `\` escaped and
/// non-printable bytes as `\DDD`.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    for &b in s {
        match b {
            b'"' | b'\\' => write!(f, "\\{}", char::from(b))?,
            b' ' => f.write_str(" ")?,
            b if b.is_ascii_graphic() => write!(f, "{}", char::from(b))?,
            b => write!(f, "\\{b:03}")?,
        }
    }
    f.write_str("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_round_trip() {
        for n in 0..=u16::MAX {
            assert_eq!(RecordType::from_u16(n).to_u16(), n);
        }
        assert_eq!(RecordType::from(28), RecordType::AAAA);
        assert_eq!(RecordType::from(41), RecordType::Other(41));
    }

    #[test]
    fn type_text() {
        assert_eq!(RecordType::AAAA.to_string(), "AAAA");
        assert_eq!(RecordType::Other(65).to_string(), "TYPE65");
        assert_eq!("aaaa".parse::<RecordType>().unwrap(), RecordType::AAAA);
        assert_eq!(
            "TYPE65".parse::<RecordType>().unwrap(),
            RecordType::Other(65)
        );
        assert_eq!("type1".parse::<RecordType>().unwrap(), RecordType::A);
        assert!("TYPE".parse::<RecordType>().is_err());
        assert!("TYPE70000".parse::<RecordType>().is_err());
        assert!("TYPE+1".parse::<RecordType>().is_err());
        assert!("HINFO".parse::<RecordType>().is_err());
    }

    #[test]
    fn record_display() {
        let name: Name = "www.example.".parse().unwrap();
        let rec = |data| Record {
            name: name.clone(),
            ttl: 300,
            data,
        };
        assert_eq!(
            rec(RData::A(Ipv4Addr::new(192, 0, 2, 1))).to_string(),
            "www.example. 300 IN A 192.0.2.1"
        );
        let txt = rec(RData::TXT(vec![b"a \"q\"".to_vec(), vec![0, b'z']]));
        assert_eq!(
            txt.to_string(),
            "www.example. 300 IN TXT \"a \\\"q\\\"\" \"\\000z\""
        );
        let mx = rec(RData::MX {
            preference: 10,
            exchange: name.clone(),
        });
        assert_eq!(mx.data.to_string(), "10 www.example.");
        let other = rec(RData::Other {
            rtype: 65,
            data: vec![0, 1, 0xab],
        });
        assert_eq!(other.to_string(), "www.example. 300 IN TYPE65 \\# 3 0001ab");
        assert_eq!(other.rtype(), RecordType::Other(65));
    }

    #[test]
    fn known_numbers_are_the_named_type() {
        use std::collections::HashSet;
        assert_eq!(RecordType::Other(28), RecordType::AAAA);
        assert_eq!(RecordType::Other(1), RecordType::A);
        assert_ne!(RecordType::Other(99), RecordType::A);
        assert_eq!(RecordType::Other(28).normalized(), RecordType::AAAA);
        assert!(matches!(
            RecordType::Other(5).normalized(),
            RecordType::CNAME
        ));
        assert_eq!(RecordType::Other(28).to_string(), "AAAA");
        let set: HashSet<RecordType> = [RecordType::AAAA, RecordType::Other(28)].into();
        assert_eq!(set.len(), 1);
    }
}
