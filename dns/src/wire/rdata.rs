//! Record data ([`RData`]) to and from the wire, type by type.
//!
//! Decoding reads from a window of exactly RDLENGTH bytes and fails unless
//! the data fills it exactly. Names inside the data may be compressed (they
//! point backwards into the whole message). When encoding, only the types of
//! RFC 1035 (CNAME, NS, PTR, MX, SOA) compress their names, as RFC 3597 §4
//! asks; SRV targets are written in full (RFC 2782).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::decode_error::Problem;
use super::reader::Reader;
use super::writer::Writer;
use crate::error::{malformed, Error};
use crate::record::{RData, RecordType};

/// Decodes the data of a class-IN record of type `rtype` from `r`, which
/// covers exactly the RDLENGTH bytes.
pub(crate) fn decode(rtype: u16, mut r: Reader<'_>) -> Result<RData, Error> {
    let kind = RecordType::from_u16(rtype);
    let start = r.pos();
    let data = match kind {
        RecordType::A => {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(r.bytes(4, "A address")?);
            RData::A(Ipv4Addr::from(octets))
        }
        RecordType::AAAA => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(r.bytes(16, "AAAA address")?);
            RData::AAAA(Ipv6Addr::from(octets))
        }
        RecordType::CNAME => RData::CNAME(r.name("CNAME target")?),
        RecordType::NS => RData::NS(r.name("NS name")?),
        RecordType::PTR => RData::PTR(r.name("PTR name")?),
        RecordType::MX => RData::MX {
            preference: r.u16("MX preference")?,
            exchange: r.name("MX exchange")?,
        },
        RecordType::TXT => {
            let mut strings = Vec::with_capacity(r.remaining().min(16));
            while r.remaining() > 0 {
                let len = r.u8("TXT string length")?;
                strings.push(r.bytes(usize::from(len), "TXT string")?.to_vec());
            }
            RData::TXT(strings)
        }
        RecordType::SRV => RData::SRV {
            priority: r.u16("SRV priority")?,
            weight: r.u16("SRV weight")?,
            port: r.u16("SRV port")?,
            target: r.name("SRV target")?,
        },
        RecordType::SOA => RData::SOA {
            mname: r.name("SOA mname")?,
            rname: r.name("SOA rname")?,
            serial: r.u32("SOA serial")?,
            refresh: r.u32("SOA refresh")?,
            retry: r.u32("SOA retry")?,
            expire: r.u32("SOA expire")?,
            minimum: r.u32("SOA minimum")?,
        },
        RecordType::Other(rtype) => RData::Other {
            rtype,
            data: r.rest().to_vec(),
        },
    };
    if r.remaining() != 0 {
        return Err(malformed("record data", start, Problem::DataLeftOver));
    }
    Ok(data)
}

/// Appends the data of `data` (without the RDLENGTH field).
pub(crate) fn encode(data: &RData, w: &mut Writer) {
    match data {
        RData::A(ip) => w.bytes(&ip.octets()),
        RData::AAAA(ip) => w.bytes(&ip.octets()),
        RData::CNAME(n) | RData::NS(n) | RData::PTR(n) => w.name(n, true),
        RData::MX {
            preference,
            exchange,
        } => {
            w.u16(*preference);
            w.name(exchange, true);
        }
        RData::TXT(strings) => {
            for s in strings {
                if s.is_empty() {
                    w.u8(0);
                }
                for piece in s.chunks(255) {
                    w.u8(u8::try_from(piece.len()).unwrap_or(u8::MAX));
                    w.bytes(piece);
                }
            }
        }
        RData::SRV {
            priority,
            weight,
            port,
            target,
        } => {
            w.u16(*priority);
            w.u16(*weight);
            w.u16(*port);
            w.name(target, false);
        }
        RData::SOA {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            w.name(mname, true);
            w.name(rname, true);
            for v in [serial, refresh, retry, expire, minimum] {
                w.u32(*v);
            }
        }
        RData::Other { data, .. } => w.bytes(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Name;

    fn round_trip(data: RData) -> RData {
        let mut w = Writer::new();
        encode(&data, &mut w);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        let sub = r.sub(bytes.len(), "rdata").unwrap();
        decode(data.rtype().to_u16(), sub).unwrap()
    }

    #[test]
    fn each_type_round_trips() {
        let n: Name = "mail.example.".parse().unwrap();
        let all = [
            RData::A(Ipv4Addr::new(192, 0, 2, 7)),
            RData::AAAA("2001:db8::1".parse().unwrap()),
            RData::CNAME(n.clone()),
            RData::NS(n.clone()),
            RData::PTR(n.clone()),
            RData::MX {
                preference: 10,
                exchange: n.clone(),
            },
            RData::TXT(vec![b"hello".to_vec(), vec![], vec![0xff; 255]]),
            RData::TXT(vec![]),
            RData::SRV {
                priority: 1,
                weight: 2,
                port: 443,
                target: n.clone(),
            },
            RData::SOA {
                mname: n.clone(),
                rname: n.clone(),
                serial: 1,
                refresh: 2,
                retry: 3,
                expire: 4,
                minimum: 5,
            },
            RData::Other {
                rtype: 65,
                data: vec![1, 2, 3],
            },
            RData::Other {
                rtype: 999,
                data: vec![],
            },
        ];
        for data in all {
            assert_eq!(round_trip(data.clone()), data);
        }
    }

    #[test]
    fn long_txt_strings_are_split() {
        let data = RData::TXT(vec![vec![b'x'; 300]]);
        assert_eq!(
            round_trip(data),
            RData::TXT(vec![vec![b'x'; 255], vec![b'x'; 45]])
        );
    }

    #[test]
    fn wrong_lengths_are_malformed() {
        let check = |rtype: u16, bytes: &[u8]| {
            let mut r = Reader::new(bytes);
            let sub = r.sub(bytes.len(), "rdata").unwrap();
            decode(rtype, sub).unwrap_err().to_string()
        };
        assert!(check(1, &[1, 2, 3]).contains("A address"));
        assert!(check(1, &[1, 2, 3, 4, 5]).contains("left over"));
        assert!(check(28, &[0; 15]).contains("AAAA"));
        assert!(check(5, b"\x01a\x00\x00").contains("left over"));
        assert!(check(16, b"\x05abc").contains("TXT string"));
        assert!(check(15, b"\x00").contains("MX preference"));
        assert!(check(6, b"\x00\x00\x00\x00\x00\x01").contains("SOA refresh"));
    }
}
