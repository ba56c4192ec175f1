//! The answer cache: positive and negative answers kept for their TTL.
//!
//! Keyed by (name, type). A positive entry holds the records of an answer and
//! lives as long as the smallest TTL among them; a negative entry (NXDOMAIN
//! or NODATA) lives as long as the TTL the resolver derived from the SOA
//! record of the reply (RFC 2308, see `exchange::negative_ttl`). NXDOMAIN is
//! stored per type like NODATA, so a name that does not exist is cached once
//! for A and once for AAAA.
//!
//! Every method takes `now`, so the cache never reads the clock and tests
//! never sleep. TTLs with the top bit set count as 0 (RFC 2181 §8);
//! positive entries are kept at most [`MAX_TTL`], negative ones at most
//! [`MAX_NEGATIVE_TTL`]. Entries with a TTL of 0 are not stored.
//!
//! # Implementation
//!
//! A least-recently-used map (`lru.rs`) bounds the number of entries, and
//! the cache counts the bytes its entries hold (names, record data, and a
//! fixed cost per record and per entry, see `entry_bytes`): past the byte
//! limit it forgets least recently used entries, so hostile answers with
//! long names cannot make it grow past the limit whatever their number.
//! An answer bigger than a quarter of the limit is not cached at all.
//! Expired entries are dropped when they are looked up, or all at once by
//! [`Cache::remove_expired`].

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::lru::LruMap;
use crate::name::Name;
use crate::record::{Record, RecordType};

/// Longest a positive answer is kept: one week (RFC 8767's suggestion).
pub const MAX_TTL: u32 = 7 * 24 * 3600;
/// Longest a negative answer is kept: three hours (RFC 2308 §5).
pub const MAX_NEGATIVE_TTL: u32 = 3 * 3600;

/// The kind of a negative answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Negative {
    /// The name does not exist.
    NxDomain,
    /// The name has no records of the type.
    NoData,
}

impl From<Negative> for Error {
    fn from(negative: Negative) -> Error {
        match negative {
            Negative::NxDomain => Error::NxDomain,
            Negative::NoData => Error::NoData,
        }
    }
}

#[derive(Debug)]
enum Answer {
    Records(Vec<Record>),
    Negative(Negative),
}

/// The default byte limit of a cache: 1 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 20;

#[derive(Debug)]
struct Entry {
    stored: Instant,
    expires: Instant,
    /// What this entry counts for against the byte limit.
    bytes: usize,
    answer: Answer,
}

/// A bounded cache of DNS answers; see the module notes.
#[derive(Debug)]
pub struct Cache {
    entries: LruMap<(Name, RecordType), Entry>,
    bytes: usize,
    max_bytes: usize,
}

impl Cache {
    /// A cache of at most `capacity` entries and [`DEFAULT_CACHE_BYTES`];
    /// 0 makes a cache that keeps nothing.
    pub fn new(capacity: usize) -> Cache {
        Cache::with_limits(capacity, DEFAULT_CACHE_BYTES)
    }

    /// A cache of at most `capacity` entries holding at most `max_bytes`
    /// (as the module notes count them).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Cache {
        Cache {
            entries: LruMap::new(capacity),
            bytes: 0,
            max_bytes,
        }
    }

    /// The bytes the cached entries count for.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most entries the cache keeps.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Entries held, expired ones included until they are removed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached answer for `name`/`rtype` at `now`: the records with their
    /// TTLs counted down by the whole seconds since they were stored, or the
    /// negative answer as [`Error::NxDomain`] / [`Error::NoData`]. `None` if
    /// nothing live is cached.
    pub fn get(
        &mut self,
        name: &Name,
        rtype: RecordType,
        now: Instant,
    ) -> Option<Result<Vec<Record>, Error>> {
        if self.entries.len() == 0 {
            return None;
        }
        let key = (name.clone(), rtype);
        let entry = self.entries.get_mut(&key)?;
        if now >= entry.expires {
            self.remove(name, rtype);
            return None;
        }
        let elapsed = now.saturating_duration_since(entry.stored).as_secs();
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        Some(match &entry.answer {
            Answer::Negative(negative) => Err((*negative).into()),
            Answer::Records(records) => Ok(records
                .iter()
                .map(|r| Record {
                    ttl: r.ttl.saturating_sub(elapsed),
                    ..r.clone()
                })
                .collect()),
        })
    }

    /// Caches the records answering `name`/`rtype` until the smallest of
    /// their TTLs runs out. An empty set, or a TTL of 0, is not cached.
    pub fn insert(
        &mut self,
        name: Name,
        rtype: RecordType,
        mut records: Vec<Record>,
        now: Instant,
    ) {
        for record in &mut records {
            record.ttl = clamp_ttl(record.ttl, MAX_TTL);
        }
        let Some(ttl) = records.iter().map(|r| r.ttl).min() else {
            return;
        };
        self.store(name, rtype, ttl, Answer::Records(records), now);
    }

    /// Caches a negative answer for `name`/`rtype` for `ttl` seconds (as
    /// computed by `exchange::negative_ttl`).
    pub fn insert_negative(
        &mut self,
        name: Name,
        rtype: RecordType,
        negative: Negative,
        ttl: u32,
        now: Instant,
    ) {
        let ttl = clamp_ttl(ttl, MAX_NEGATIVE_TTL);
        self.store(name, rtype, ttl, Answer::Negative(negative), now);
    }

    /// Caches the outcome of `exchange::extract_answer` for `name`/`rtype`:
    /// records with [`Cache::insert`]; NXDOMAIN and NODATA with
    /// [`Cache::insert_negative`] for `negative_ttl` seconds (from
    /// `exchange::negative_ttl`; `None` means the reply had no usable SOA and
    /// nothing is cached). Other errors (timeouts, SERVFAIL, ...) are never
    /// cached.
    pub fn insert_result(
        &mut self,
        name: Name,
        rtype: RecordType,
        result: &Result<Vec<Record>, Error>,
        negative_ttl: Option<u32>,
        now: Instant,
    ) {
        let negative = match result {
            Ok(records) => return self.insert(name, rtype, records.clone(), now),
            Err(Error::NxDomain) => Negative::NxDomain,
            Err(Error::NoData) => Negative::NoData,
            Err(_) => return,
        };
        if let Some(ttl) = negative_ttl {
            self.insert_negative(name, rtype, negative, ttl, now);
        }
    }

    /// Forgets the entry for `name`/`rtype`, if any.
    pub fn remove(&mut self, name: &Name, rtype: RecordType) {
        if let Some(old) = self.entries.remove(&(name.clone(), rtype)) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
    }

    /// Drops every entry that has expired at `now`.
    pub fn remove_expired(&mut self, now: Instant) {
        let mut freed = 0;
        self.entries.retain(|entry| {
            let keep = now < entry.expires;
            if !keep {
                freed += entry.bytes;
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    fn store(&mut self, name: Name, rtype: RecordType, ttl: u32, answer: Answer, now: Instant) {
        let bytes = entry_bytes(&name, &answer);
        if ttl == 0 || bytes > self.max_bytes / 4 {
            self.remove(&name, rtype);
            return;
        }
        let Some(expires) = now.checked_add(Duration::from_secs(u64::from(ttl))) else {
            return;
        };
        let entry = Entry {
            stored: now,
            expires,
            bytes,
            answer,
        };
        self.bytes += bytes;
        if let Some(gone) = self.entries.insert((name, rtype), entry) {
            self.bytes = self.bytes.saturating_sub(gone.bytes);
        }
        while self.bytes > self.max_bytes {
            let Some(gone) = self.entries.pop_lru() else {
                self.bytes = 0;
                break;
            };
            self.bytes = self.bytes.saturating_sub(gone.bytes);
        }
    }
}

/// Fixed cost counted per entry (key, links, timestamps) and per record.
const ENTRY_OVERHEAD: usize = 128;
const RECORD_OVERHEAD: usize = std::mem::size_of::<Record>();

/// What an entry counts for against the byte limit: the overheads, the
/// key's name, and each record's owner name and data.
fn entry_bytes(name: &Name, answer: &Answer) -> usize {
    let records = match answer {
        Answer::Negative(_) => 0,
        Answer::Records(records) => records
            .iter()
            .map(|r| RECORD_OVERHEAD + r.name.wire_len() + r.data.heap_bytes())
            .sum(),
    };
    ENTRY_OVERHEAD + name.wire_len() + records
}

/// RFC 2181 §8: a TTL with the top bit set counts as 0; then at most `max`.
fn clamp_ttl(ttl: u32, max: u32) -> u32 {
    if ttl > i32::MAX as u32 {
        0
    } else {
        ttl.min(max)
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
