//! `Cache` against a simple model under a pseudo-random workload (fixed
//! seeds): inserts of positive and negative answers with TTLs of 0, with
//! the top bit set and past the caps, lookups in mixed case, removals,
//! `remove_expired`, `clear`, and the clock moving on. Time is passed in;
//! nothing sleeps.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tern::dns::{
    Cache, Error, Name, Negative, RData, Record, RecordType, MAX_NEGATIVE_TTL, MAX_TTL,
};

/// xorshift64: enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAMES: [&str; 6] = ["a.test", "b.test", "c.test", "d.test", "e.test", "f.test"];
const TYPES: [RecordType; 2] = [RecordType::A, RecordType::AAAA];

/// A TTL as a hostile or careless server might send it.
fn ttl(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => 0,
        1 => 0x8000_0000 + rng.below(0x7fff_ffff) as u32,
        2 => u32::MAX,
        3 => i32::MAX as u32,
        4 => MAX_TTL + rng.below(1000) as u32,
        _ => 1 + rng.below(20) as u32,
    }
}

/// RFC 2181 §8, then the cap.
fn clamp(ttl: u32, max: u32) -> u32 {
    if ttl > i32::MAX as u32 {
        0
    } else {
        ttl.min(max)
    }
}

/// The name in a random case, as another lookup might spell it.
fn spelled(rng: &mut Rng, name: &str) -> Name {
    let s: String = name
        .chars()
        .map(|c| {
            if rng.below(2) == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    s.parse().unwrap()
}

#[derive(Clone, Debug)]
enum Held {
    Records(Vec<Record>),
    Negative(Negative),
}

#[derive(Clone, Debug)]
struct ModelEntry {
    key: (usize, usize),
    stored: Instant,
    expires: Instant,
    held: Held,
}

/// Least recently used first.
struct Model {
    entries: Vec<ModelEntry>,
    capacity: usize,
}

impl Model {
    fn position(&self, key: (usize, usize)) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    fn remove(&mut self, key: (usize, usize)) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
        }
    }

    fn store(&mut self, key: (usize, usize), ttl: u32, held: Held, now: Instant) {
        if ttl == 0 {
            self.remove(key);
            return;
        }
        let entry = ModelEntry {
            key,
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
            held,
        };
        match self.position(key) {
            Some(i) => {
                self.entries.remove(i);
            }
            None if self.entries.len() >= self.capacity => {
                self.entries.remove(0);
            }
            None => {}
        }
        self.entries.push(entry);
    }

    fn get(&mut self, key: (usize, usize), now: Instant) -> Option<Result<Vec<Record>, Error>> {
        let i = self.position(key)?;
        let e = self.entries.remove(i);
        if now >= e.expires {
            return None;
        }
        let elapsed = (now - e.stored).as_secs() as u32;
        let out = match &e.held {
            Held::Negative(Negative::NxDomain) => Err(Error::NxDomain),
            Held::Negative(Negative::NoData) => Err(Error::NoData),
            Held::Records(records) => Ok(records
                .iter()
                .map(|r| Record {
                    ttl: r.ttl.saturating_sub(elapsed),
                    ..r.clone()
                })
                .collect()),
        };
        self.entries.push(e);
        Some(out)
    }
}

fn same(
    got: &Option<Result<Vec<Record>, Error>>,
    want: &Option<Result<Vec<Record>, Error>>,
) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(Ok(a)), Some(Ok(b))) => a == b,
        (Some(Err(Error::NxDomain)), Some(Err(Error::NxDomain))) => true,
        (Some(Err(Error::NoData)), Some(Err(Error::NoData))) => true,
        _ => false,
    }
}

fn run(seed: u64, capacity: usize) {
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let mut now = t0;
    let mut cache = Cache::new(capacity);
    let mut model = Model {
        entries: Vec::new(),
        capacity,
    };
    for step in 0..20_000u32 {
        let key = (
            rng.below(NAMES.len() as u64) as usize,
            rng.below(2) as usize,
        );
        let (owner, rtype) = (NAMES[key.0], TYPES[key.1]);
        match rng.below(10) {
            0..=2 => {
                let n = rng.below(4) as usize;
                let records: Vec<Record> = (0..n)
                    .map(|i| Record {
                        name: spelled(&mut rng, owner),
                        ttl: ttl(&mut rng),
                        data: RData::A(Ipv4Addr::new(192, 0, 2, i as u8)),
                    })
                    .collect();
                let clamped: Vec<Record> = records
                    .iter()
                    .map(|r| Record {
                        ttl: clamp(r.ttl, MAX_TTL),
                        ..r.clone()
                    })
                    .collect();
                if let Some(min) = clamped.iter().map(|r| r.ttl).min() {
                    model.store(key, min, Held::Records(clamped), now);
                }
                cache.insert(spelled(&mut rng, owner), rtype, records, now);
            }
            3 => {
                let negative = if rng.below(2) == 0 {
                    Negative::NxDomain
                } else {
                    Negative::NoData
                };
                let t = ttl(&mut rng);
                model.store(
                    key,
                    clamp(t, MAX_NEGATIVE_TTL),
                    Held::Negative(negative),
                    now,
                );
                cache.insert_negative(spelled(&mut rng, owner), rtype, negative, t, now);
            }
            4..=6 => {
                let got = cache.get(&spelled(&mut rng, owner), rtype, now);
                let want = model.get(key, now);
                assert!(
                    same(&got, &want),
                    "seed {seed} step {step}: {owner} {rtype:?}: got {got:?}, want {want:?}"
                );
            }
            7 => {
                cache.remove(&spelled(&mut rng, owner), rtype);
                model.remove(key);
            }
            8 => {
                now += Duration::from_millis(rng.below(4_000));
            }
            _ => match rng.below(20) {
                0 => {
                    cache.clear();
                    model.entries.clear();
                }
                1..=4 => {
                    cache.remove_expired(now);
                    model.entries.retain(|e| now < e.expires);
                }
                _ => now += Duration::from_secs(u64::from(MAX_TTL) / 2),
            },
        }
        assert_eq!(cache.len(), model.entries.len(), "seed {seed} step {step}");
        assert!(cache.len() <= capacity);
        if cache.is_empty() {
            assert_eq!(cache.bytes(), 0, "seed {seed} step {step}");
        }
    }
}

#[test]
fn cache_matches_a_simple_model() {
    for (seed, capacity) in [(1, 3), (0x9e37_79b9, 5), (42, 12), (7, 1)] {
        run(seed, capacity);
    }
}
