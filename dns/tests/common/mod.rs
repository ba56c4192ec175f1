//! Shared by the property, fuzz and reliability tests: a tiny deterministic
//! PRNG and generators of random valid messages, with the packet mutations
//! (`mutation`), the structured-name generator and its model (`structured`),
//! and the lossy server's decisions (`lossy`) in their own files.
//!
//! The `stress` binary of tern-benches includes this module too, by
//! `#[path]`, to run the same PRNG, mutations, structured names and lossy
//! server at full size; so it names the resolver through the `tern`
//! facade, which both crates have.

#![allow(dead_code)]

pub mod lossy;
pub mod mutation;
pub mod reply;
pub mod structured;

use std::net::{Ipv4Addr, Ipv6Addr};

use tern::dns::wire::{Edns, Header, Message, Question, Rcode};
use tern::dns::{Name, RData, Record, RecordType};

/// xorshift64*: small, fast, and good enough to pick test cases.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn u8(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    pub fn u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A random label: mostly hostname characters in mixed case, sometimes any
/// bytes at all (dots, backslashes, NUL, non-ASCII), sometimes 63 bytes long.
fn label(rng: &mut Rng) -> Vec<u8> {
    const HOSTNAME: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let len = match rng.below(10) {
        0 => 63,
        1 => 1 + rng.below(63),
        _ => 1 + rng.below(10),
    };
    if rng.chance(1, 8) {
        rng.bytes(len)
    } else {
        (0..len).map(|_| *rng.pick(HOSTNAME)).collect()
    }
}

/// A random valid name. Drawn from a small pool of suffixes half the time,
/// so messages share suffixes and exercise compression.
pub fn name(rng: &mut Rng) -> Name {
    let suffixes = ["example.com", "EXAMPLE.com", "tern.test", "a.b.c.d.e", "."];
    let base: Name = if rng.chance(1, 2) {
        rng.pick(&suffixes).parse().unwrap()
    } else {
        Name::root()
    };
    loop {
        let count = match rng.below(8) {
            0 => 0,
            1 => 5 + rng.below(4),
            _ => 1 + rng.below(3),
        };
        let labels: Vec<Vec<u8>> = (0..count).map(|_| label(rng)).collect();
        if let Ok(prefix) = Name::from_labels(labels) {
            if let Ok(joined) = prefix.join(&base) {
                return joined;
            }
        }
    }
}

/// A random record type number that has no variant (and is not OPT).
fn other_type(rng: &mut Rng) -> u16 {
    loop {
        let n = if rng.chance(1, 2) {
            rng.below(300) as u16
        } else {
            rng.u16()
        };
        if matches!(RecordType::from_u16(n), RecordType::Other(_)) && n != 41 {
            return n;
        }
    }
}

pub fn rdata(rng: &mut Rng) -> RData {
    match rng.below(10) {
        0 => RData::A(Ipv4Addr::from(rng.u32())),
        1 => RData::AAAA(Ipv6Addr::from(
            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()),
        )),
        2 => RData::CNAME(name(rng)),
        3 => RData::NS(name(rng)),
        4 => RData::PTR(name(rng)),
        5 => RData::MX {
            preference: rng.u16(),
            exchange: name(rng),
        },
        6 => {
            let count = rng.below(4);
            RData::TXT(
                (0..count)
                    .map(|_| {
                        let len = if rng.chance(1, 10) {
                            255
                        } else {
                            rng.below(40)
                        };
                        rng.bytes(len)
                    })
                    .collect(),
            )
        }
        7 => RData::SRV {
            priority: rng.u16(),
            weight: rng.u16(),
            port: rng.u16(),
            target: name(rng),
        },
        8 => RData::SOA {
            mname: name(rng),
            rname: name(rng),
            serial: rng.u32(),
            refresh: rng.u32(),
            retry: rng.u32(),
            expire: rng.u32(),
            minimum: rng.u32(),
        },
        _ => {
            let len = rng.below(30);
            RData::Other {
                rtype: other_type(rng),
                data: rng.bytes(len),
            }
        }
    }
}

pub fn record(rng: &mut Rng) -> Record {
    Record {
        name: name(rng),
        ttl: rng.u32(),
        data: rdata(rng),
    }
}

fn records(rng: &mut Rng, max: usize) -> Vec<Record> {
    let count = rng.below(max + 1);
    (0..count).map(|_| record(rng)).collect()
}

pub fn message(rng: &mut Rng) -> Message {
    let header = Header {
        id: rng.u16(),
        qr: rng.chance(1, 2),
        opcode: rng.below(16) as u8,
        aa: rng.chance(1, 2),
        tc: rng.chance(1, 2),
        rd: rng.chance(1, 2),
        ra: rng.chance(1, 2),
        ad: rng.chance(1, 2),
        cd: rng.chance(1, 2),
        rcode: Rcode(rng.below(16) as u16),
    };
    let qcount = if rng.chance(4, 5) { 1 } else { rng.below(3) };
    let questions = (0..qcount)
        .map(|_| Question {
            name: name(rng),
            qtype: RecordType::from_u16(if rng.chance(1, 2) {
                rng.below(40) as u16
            } else {
                rng.u16()
            }),
            qclass: if rng.chance(3, 4) { 1 } else { rng.u16() },
        })
        .collect();
    let edns = rng.chance(1, 2).then(|| {
        let options_len = if rng.chance(1, 2) { 0 } else { rng.below(24) };
        Edns {
            payload: rng.u16(),
            ext_rcode: rng.u8(),
            version: rng.u8(),
            dnssec_ok: rng.chance(1, 2),
            options: rng.bytes(options_len),
        }
    });
    Message {
        header,
        questions,
        answers: records(rng, 6),
        authorities: records(rng, 3),
        additionals: records(rng, 3),
        edns,
    }
}
