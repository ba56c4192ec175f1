//! Hostile input for the DNS decoder, at full size: mutated valid
//! messages, random bytes, and generated compressed names checked against
//! a model of what must decode.
//!
//! The mutations and the generators are a copy of the minimal parts of
//! tern-dns's test generators (`dns/tests/common`, `dns/tests/fuzz.rs`,
//! `dns/tests/reliability.rs`), which this crate cannot use.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tern::dns::exchange::{extract_answer, validate_reply, Transport};
use tern::dns::wire::{Header, Message, Question, Rcode};
use tern::dns::{Name, RData, Record, RecordType};

use crate::{Row, Size};

const PART: &str = "fuzz";

/// xorshift64*: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn u8(&mut self) -> u8 {
        self.next_u64() as u8
    }

    fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }
}

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

// ===== mutation =====

fn mutate(rng: &mut Rng, packet: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = packet.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                packet[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                let choices = [0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xff, rng.u8()];
                packet[at] = choices[rng.below(choices.len())];
            }
            2 => packet.truncate(rng.below(len + 1)),
            3 => {
                let extra = rng.below(64);
                packet.extend(rng.bytes(extra));
            }
            4 if len >= 12 => {
                let at = 4 + 2 * rng.below(4);
                let choices = [0u16, 1, 2, 0xff, 0xffff, rng.u16()];
                let value = choices[rng.below(choices.len())];
                packet[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            5 if len >= 2 => {
                let at = rng.below(len - 1);
                let target = match rng.below(4) {
                    0 => at,
                    1 => at + 1 + rng.below(8),
                    2 => rng.below(at + 1),
                    _ => rng.below(0x4000),
                } as u16;
                packet[at] = 0xc0 | ((target >> 8) as u8 & 0x3f);
                packet[at + 1] = target as u8;
            }
            6 if len > 1 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(32)).min(len);
                let chunk = packet[from..to].to_vec();
                let at = rng.below(packet.len() + 1);
                packet.splice(at..at, chunk);
            }
            _ => {
                let at = rng.below(len + 1);
                packet.insert(at, rng.u8());
            }
        }
    }
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

// ===== structured names against a model =====

#[derive(Clone, Copy)]
enum End {
    Root,
    Back(usize, usize),
    Forward(usize),
    Header(u16),
}

struct ModelName {
    labels: Vec<Vec<u8>>,
    end: End,
    offsets: Vec<usize>,
}

fn expand(names: &[ModelName], j: usize, from: usize) -> Option<Vec<u8>> {
    let n = &names[j];
    let mut wire = Vec::new();
    for l in n.labels.get(from..)? {
        if l.len() > 63 {
            return None;
        }
        wire.push(l.len() as u8);
        wire.extend_from_slice(l);
    }
    match n.end {
        End::Root => wire.push(0),
        End::Back(k, at) => wire.extend(expand(names, k, at)?),
        End::Forward(_) | End::Header(_) => return None,
    }
    Some(wire)
}

/// What a structured packet must decode to: `None` when the model does not
/// know, `Some(None)` when it must fail, else the names' wire forms.
type Expected = Option<Option<Vec<Vec<u8>>>>;

/// A message of compressed question names (loops, forward pointers,
/// 64-byte labels, names past 255 bytes, counts larger than the packet),
/// and the names it must decode to, if the model knows.
fn structured(rng: &mut Rng) -> (Vec<u8>, Expected) {
    let count = 1 + rng.below(4);
    let mut packet = vec![0x12, 0x34, 0x81, 0x80, 0, count as u8, 0, 0, 0, 0, 0, 0];
    let mut names: Vec<ModelName> = Vec::new();
    let mut known = true;
    for j in 0..count {
        let labels: Vec<Vec<u8>> = (0..rng.below(6))
            .map(|_| {
                let len = match rng.below(20) {
                    0 => 63,
                    1 => 64,
                    2 => 64 + rng.below(128),
                    3..=5 => 30 + rng.below(34),
                    _ => 1 + rng.below(8),
                };
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        let end = match rng.below(10) {
            3..=6 if j > 0 => {
                let k = rng.below(j);
                End::Back(k, rng.below(names[k].labels.len() + 1))
            }
            7 => End::Forward(rng.below(300)),
            8 => End::Header(rng.below(12) as u16),
            _ => End::Root,
        };
        let start = packet.len();
        let mut offsets = Vec::new();
        for l in &labels {
            offsets.push(packet.len());
            packet.push(l.len() as u8);
            packet.extend_from_slice(l);
        }
        offsets.push(packet.len());
        let pointer = match end {
            End::Root => None,
            End::Back(k, at) => Some(names[k].offsets[at]),
            End::Forward(ahead) => Some((start + ahead).min(0x3fff)),
            End::Header(at) => {
                known = false;
                Some(usize::from(at))
            }
        };
        match pointer {
            None => packet.push(0),
            Some(t) => packet.extend_from_slice(&(0xc000 | t as u16).to_be_bytes()),
        }
        packet.extend_from_slice(&[0, 1, 0, 1]);
        names.push(ModelName {
            labels,
            end,
            offsets,
        });
    }
    let expanded: Option<Vec<Vec<u8>>> = (0..count)
        .map(|j| expand(&names, j, 0).filter(|w| w.len() <= 255))
        .collect();
    let mut framing_ok = true;
    match rng.below(8) {
        0 => {
            let at = 4 + 2 * rng.below(4);
            let extra = if at == 4 { count as u16 + 1 } else { 1 } + rng.u16() % 0x8000;
            packet[at..at + 2].copy_from_slice(&extra.to_be_bytes());
            framing_ok = false;
        }
        1 => {
            packet.truncate(rng.below(packet.len()));
            framing_ok = false;
        }
        2 => {
            packet.push(rng.u8());
            framing_ok = false;
        }
        _ => {}
    }
    (packet, known.then(|| expanded.filter(|_| framing_ok)))
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
        let (packet, want) = structured(&mut rng3);
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
