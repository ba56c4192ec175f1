//! Record builders shared by the crate's unit tests.

use std::net::Ipv4Addr;

use crate::name::Name;
use crate::record::{RData, Record};

/// `text` as a name.
pub(crate) fn name(text: &str) -> Name {
    text.parse().unwrap()
}

/// An A record for `owner`: 192.0.2.`last`.
pub(crate) fn a(owner: &str, ttl: u32, last: u8) -> Record {
    Record {
        name: name(owner),
        ttl,
        data: RData::A(Ipv4Addr::new(192, 0, 2, last)),
    }
}
