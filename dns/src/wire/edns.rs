//! EDNS(0) (RFC 6891): the OPT pseudo-record, decoded into [`Edns`].
//!
//! On the wire OPT is a record in the additional section whose class holds
//! the UDP payload size and whose TTL holds the extended rcode, the version
//! and the DO flag. [`super::Message`] keeps it apart, in `edns`, so the
//! record sections only ever hold real records.

/// The record type number of OPT.
pub const OPT: u16 = 41;

/// The EDNS(0) fields of a message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Edns {
    /// Largest UDP reply the sender can take (values below 512 mean 512).
    pub payload: u16,
    /// The upper 8 bits of the 12-bit response code.
    pub ext_rcode: u8,
    /// EDNS version; 0 is the only one defined.
    pub version: u8,
    /// DNSSEC OK: the sender wants DNSSEC records.
    pub dnssec_ok: bool,
    /// The options, undecoded (sequence of code, length, data).
    pub options: Vec<u8>,
}

impl Edns {
    /// Version-0 EDNS with this payload size, no options and DO clear.
    pub fn new(payload: u16) -> Edns {
        Edns {
            payload,
            ..Edns::default()
        }
    }

    /// The OPT record's TTL field. The other Z bits are sent as 0.
    pub(crate) fn ttl_bits(&self) -> u32 {
        (u32::from(self.ext_rcode) << 24)
            | (u32::from(self.version) << 16)
            | if self.dnssec_ok { 0x8000 } else { 0 }
    }

    /// The fields from an OPT record's class, TTL and data. Z bits other
    /// than DO are dropped.
    pub(crate) fn from_opt(class: u16, ttl: u32, options: &[u8]) -> Edns {
        Edns {
            payload: class,
            ext_rcode: (ttl >> 24) as u8,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            options: options.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bits_round_trip() {
        let e = Edns {
            payload: 1232,
            ext_rcode: 1,
            version: 0,
            dnssec_ok: true,
            options: vec![],
        };
        assert_eq!(e.ttl_bits(), 0x0100_8000);
        assert_eq!(Edns::from_opt(1232, e.ttl_bits(), &[]), e);
        assert!(!Edns::from_opt(512, 0x0000_7fff, &[1]).dnssec_ok);
    }
}
