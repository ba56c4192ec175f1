//! Hostile input for the DNS decoder, at full size: mutated valid
//! messages, random bytes, and generated compressed names checked against
//! a model of what must decode.
//!
//! The PRNG, the mutations and the structured names with their model are
//! tern-dns's test generators (`dns/tests/common`, included by the binary).
//! The messages to mutate come from the simpler generator below, not from
//! those tests' fuller one.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tern::dns::exchange::{extract_answer, validate_reply, Transport};
use tern::dns::wire::{Header, Message, Question, Rcode};
use tern::dns::{Name, RData, Record, RecordType};

use crate::common::mutation::mutate;
use crate::common::{structured, Rng};
use crate::{Row, Size};

const PART: &str = "fuzz";

// ===== valid messages to start from =====

fn name(rng: &mut Rng) -> Name {
    let suffixes = ["example.com.", "EXAMPLE.com.", "tern.test.", "a.b.c.d.e."];
    loop {
        let count = rng.below(5);
        let labels: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                let len = if rng.below(10) == 0 {
                    63
                } else {
                    1 + rng.below(10)
                };
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        let base: Name = suffixes[rng.below(suffixes.len())]
            .parse()
            .unwrap_or_else(|_| Name::root());
        if let Ok(n) = Name::from_labels(labels).and_then(|p| p.join(&base)) {
            return n;
        }
    }
}

fn record(rng: &mut Rng) -> Record {
    let data = match rng.below(7) {
        0 => RData::A(Ipv4Addr::from(rng.next_u64() as u32)),
        1 => RData::AAAA(Ipv6Addr::from(
            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()),
        )),
        2 => RData::CNAME(name(rng)),
        3 => RData::MX {
            preference: rng.u16(),
            exchange: name(rng),
        },
        4 => {
            let len = rng.below(40);
            RData::TXT(vec![rng.bytes(len)])
        }
        5 => RData::SOA {
            mname: name(rng),
            rname: name(rng),
            serial: 1,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum: rng.next_u64() as u32,
        },
        _ => RData::SRV {
            priority: 1,
            weight: 2,
            port: rng.u16(),
            target: name(rng),
        },
    };
    Record {
        name: name(rng),
        ttl: rng.next_u64() as u32,
        data,
    }
}

fn message(rng: &mut Rng) -> Message {
    let qname = name(rng);
    let mut m = Message::query(
        rng.u16(),
        &qname,
        RecordType::from_u16(1 + rng.below(40) as u16),
        (rng.below(2) == 0).then_some(1232),
    );
    m.header.qr = true;
    m.header.rcode = Rcode(rng.below(6) as u16);
    m.questions.push(Question {
        name: name(rng),
        qtype: RecordType::A,
        qclass: 1,
    });
    m.questions.truncate(1 + rng.below(2));
    for _ in 0..rng.below(6) {
        m.answers.push(record(rng));
    }
    for _ in 0..rng.below(3) {
        m.authorities.push(record(rng));
    }
    for _ in 0..rng.below(3) {
        m.additionals.push(record(rng));
    }
    m
}

/// Everything the resolver does with untrusted bytes; returns whether the
/// packet decoded, or Err if an invariant failed.
fn check(packet: &[u8]) -> Result<bool, String> {
    let _ = Header::decode(packet);
    let Ok(message) = Message::decode(packet) else {
        return Ok(false);
    };
    let records = message.answers.len() + message.authorities.len() + message.additionals.len();
    if records > packet.len() / 11 {
        return Err(format!("{records} records from {} bytes", packet.len()));
    }
    if Message::decode(&message.encode()).ok().as_ref() != Some(&message) {
        return Err("a decoded message does not survive re-encoding".into());
    }
    if let Some(q) = message.questions.first() {
        let query = Message::query(message.header.id, &q.name, q.qtype, None);
        let _ = validate_reply(&query, packet, Transport::Udp);
        let _ = extract_answer(&q.name, q.qtype, &message);
    }
    Ok(true)
}

/// Runs `check` on each packet `make` gives, counting decodes, panics and
/// failed invariants.
fn campaign(count: usize, mut make: impl FnMut() -> Vec<u8>) -> (usize, usize, usize) {
    let (mut decoded, mut panics, mut failures) = (0, 0, 0);
    for _ in 0..count {
        let packet = make();
        match catch_unwind(AssertUnwindSafe(|| check(&packet))) {
            Ok(Ok(d)) => decoded += usize::from(d),
            Ok(Err(why)) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("{why}: {packet:02x?}");
                }
            }
            Err(_) => {
                panics += 1;
                if panics <= 3 {
                    eprintln!("panic on {packet:02x?}");
                }
            }
        }
    }
    (decoded, panics, failures)
}

/// Runs the part.
pub fn run(size: Size) -> Vec<Row> {
    let mutated = size.n(10_000_000, 100_000);
    let random = size.n(1_000_000, 10_000);
    let names = size.n(2_000_000, 20_000);
    let mut rng = Rng::new(0x7e57);
    let seeds: Vec<Vec<u8>> = (0..500).map(|_| message(&mut rng).encode()).collect();
    let (m_dec, m_pan, m_fail) = campaign(mutated, || {
        let mut p = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut p);
        p
    });
    let mut rng2 = Rng::new(99);
    let (r_dec, r_pan, r_fail) = campaign(random, || {
        let len = rng2.below(600);
        rng2.bytes(len)
    });
    let mut rng3 = Rng::new(0x5eed);
    let (mut valid, mut invalid, mut unmodelled, mut disagree, mut panics) = (0, 0, 0, 0, 0);
    for _ in 0..names {
        let (packet, want, known) = structured::message(&mut rng3);
        let want = known.then_some(want);
        let got = match catch_unwind(|| Message::decode(&packet)) {
            Ok(g) => g,
            Err(_) => {
                panics += 1;
                continue;
            }
        };
        match (want, got) {
            (None, _) => unmodelled += 1,
            (Some(Some(want)), Ok(m))
                if m.questions
                    .iter()
                    .map(|q| q.name.as_wire().to_vec())
                    .collect::<Vec<_>>()
                    == want =>
            {
                valid += 1
            }
            (Some(None), Err(tern::dns::Error::Malformed(_))) => invalid += 1,
            _ => {
                disagree += 1;
                if disagree <= 3 {
                    eprintln!("model and decoder disagree on {packet:02x?}");
                }
            }
        }
    }
    vec![
        Row::check(
            PART,
            "mutated packets: tried / decoded",
            format!("{mutated} / {m_dec}"),
            m_dec > 0,
        ),
        Row::check(
            PART,
            "mutated packets: panics / broken invariants",
            format!("{m_pan} / {m_fail}"),
            m_pan + m_fail == 0,
        ),
        Row::check(
            PART,
            "random packets: tried / decoded / panics",
            format!("{random} / {r_dec} / {r_pan}"),
            r_pan + r_fail == 0,
        ),
        Row::check(
            PART,
            "structured names: valid / invalid / unmodelled (pointer into header)",
            format!("{valid} / {invalid} / {unmodelled}"),
            valid > 0 && invalid > 0,
        ),
        Row::check(
            PART,
            "structured names: disagreements with the model / panics",
            format!("{disagree} / {panics}"),
            disagree + panics == 0,
        ),
    ]
}
