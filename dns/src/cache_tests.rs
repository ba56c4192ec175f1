//! Unit tests of [`Cache`](super::Cache); time is passed in, nothing sleeps.

use super::*;

use crate::test_records::{a, name};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn positive_entries_count_down_and_expire_at_min_ttl() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert(
        name("x.example"),
        RecordType::A,
        vec![a("x.example", 100, 1), a("x.example", 30, 2)],
        t0,
    );
    let got = cache
        .get(&name("X.EXAMPLE."), RecordType::A, t0 + secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(got, vec![a("x.example", 90, 1), a("x.example", 20, 2)]);
    // Sub-second elapsed time does not count down.
    let got = cache
        .get(
            &name("x.example"),
            RecordType::A,
            t0 + Duration::from_millis(999),
        )
        .unwrap()
        .unwrap();
    assert_eq!(got[1].ttl, 30);
    assert!(cache
        .get(&name("x.example"), RecordType::AAAA, t0)
        .is_none());
    assert!(cache
        .get(&name("x.example"), RecordType::A, t0 + secs(29))
        .is_some());
    assert!(cache
        .get(&name("x.example"), RecordType::A, t0 + secs(30))
        .is_none());
    assert!(cache.is_empty(), "expired entry removed on lookup");
}

#[test]
fn negative_entries() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert_negative(
        name("gone.example"),
        RecordType::A,
        Negative::NxDomain,
        60,
        t0,
    );
    cache.insert_negative(
        name("bare.example"),
        RecordType::AAAA,
        Negative::NoData,
        60,
        t0,
    );
    assert!(matches!(
        cache.get(&name("gone.example"), RecordType::A, t0),
        Some(Err(Error::NxDomain))
    ));
    assert!(matches!(
        cache.get(&name("bare.example"), RecordType::AAAA, t0),
        Some(Err(Error::NoData))
    ));
    assert!(cache
        .get(&name("gone.example"), RecordType::AAAA, t0)
        .is_none());
    assert!(cache
        .get(&name("gone.example"), RecordType::A, t0 + secs(60))
        .is_none());
}

#[test]
fn ttl_limits() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert(name("zero"), RecordType::A, vec![a("zero", 0, 1)], t0);
    cache.insert(name("empty"), RecordType::A, vec![], t0);
    cache.insert(
        name("huge"),
        RecordType::A,
        vec![a("huge", 0x8000_0000, 1)],
        t0,
    );
    assert!(cache.is_empty());
    cache.insert(
        name("long"),
        RecordType::A,
        vec![a("long", u32::MAX >> 1, 1)],
        t0,
    );
    let got = cache
        .get(&name("long"), RecordType::A, t0)
        .unwrap()
        .unwrap();
    assert_eq!(got[0].ttl, MAX_TTL);
    assert!(cache
        .get(&name("long"), RecordType::A, t0 + secs(u64::from(MAX_TTL)))
        .is_none());
    cache.insert_negative(name("neg"), RecordType::A, Negative::NxDomain, 86400, t0);
    assert!(cache
        .get(
            &name("neg"),
            RecordType::A,
            t0 + secs(u64::from(MAX_NEGATIVE_TTL))
        )
        .is_none());
}

#[test]
fn a_new_answer_replaces_the_old() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert_negative(name("x"), RecordType::A, Negative::NxDomain, 60, t0);
    cache.insert(name("x"), RecordType::A, vec![a("x", 60, 1)], t0);
    assert!(matches!(
        cache.get(&name("x"), RecordType::A, t0),
        Some(Ok(_))
    ));
    // A TTL-0 answer removes what was cached.
    cache.insert(name("x"), RecordType::A, vec![a("x", 0, 1)], t0);
    assert!(cache.get(&name("x"), RecordType::A, t0).is_none());
}

#[test]
fn bounded_lru() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(2);
    cache.insert(name("a"), RecordType::A, vec![a("a", 60, 1)], t0);
    cache.insert(name("b"), RecordType::A, vec![a("b", 60, 2)], t0);
    assert!(cache.get(&name("a"), RecordType::A, t0).is_some());
    cache.insert(name("c"), RecordType::A, vec![a("c", 60, 3)], t0);
    assert_eq!(cache.len(), 2);
    assert!(
        cache.get(&name("b"), RecordType::A, t0).is_none(),
        "b was least recently used"
    );
    assert!(cache.get(&name("a"), RecordType::A, t0).is_some());
    assert!(cache.get(&name("c"), RecordType::A, t0).is_some());
}

#[test]
fn size_zero_disables() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(0);
    cache.insert(name("a"), RecordType::A, vec![a("a", 60, 1)], t0);
    assert!(cache.get(&name("a"), RecordType::A, t0).is_none());
    assert_eq!(cache.capacity(), 0);
}

#[test]
fn remove_expired_and_clear() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert(name("short"), RecordType::A, vec![a("short", 5, 1)], t0);
    cache.insert(name("long"), RecordType::A, vec![a("long", 500, 1)], t0);
    cache.remove_expired(t0 + secs(6));
    assert_eq!(cache.len(), 1);
    cache.remove(&name("long"), RecordType::A);
    assert!(cache.is_empty());
    cache.insert(name("long"), RecordType::A, vec![a("long", 500, 1)], t0);
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn insert_result_caches_what_may_be_cached() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert_result(
        name("ok"),
        RecordType::A,
        &Ok(vec![a("ok", 60, 1)]),
        None,
        t0,
    );
    cache.insert_result(
        name("nx"),
        RecordType::A,
        &Err(Error::NxDomain),
        Some(30),
        t0,
    );
    cache.insert_result(
        name("nodata"),
        RecordType::A,
        &Err(Error::NoData),
        Some(30),
        t0,
    );
    cache.insert_result(
        name("no-soa"),
        RecordType::A,
        &Err(Error::NxDomain),
        None,
        t0,
    );
    cache.insert_result(
        name("fail"),
        RecordType::A,
        &Err(Error::ServFail),
        Some(30),
        t0,
    );
    cache.insert_result(
        name("slow"),
        RecordType::A,
        &Err(Error::Timeout),
        Some(30),
        t0,
    );
    assert_eq!(cache.len(), 3);
    assert!(matches!(
        cache.get(&name("ok"), RecordType::A, t0),
        Some(Ok(_))
    ));
    assert!(matches!(
        cache.get(&name("nx"), RecordType::A, t0),
        Some(Err(Error::NxDomain))
    ));
    assert!(matches!(
        cache.get(&name("nodata"), RecordType::A, t0),
        Some(Err(Error::NoData))
    ));
}

/// Issue 15, defect 3: answers with long names cannot make the cache hold
/// more than its byte limit, whatever their number.
#[test]
fn byte_limit_bounds_what_the_cache_holds() {
    let t0 = tern_runtime::time::now();
    let max = 256 * 1024;
    let mut cache = Cache::with_limits(100_000, max);
    let label = "x".repeat(63);
    for i in 0..2_000 {
        let owner = format!("{i}.{label}.{label}.{label}");
        let records: Vec<Record> = (0..64).map(|j| a(&owner, 300, j)).collect();
        cache.insert(name(&owner), RecordType::A, records, t0);
        assert!(cache.bytes() <= max, "{} bytes after {i}", cache.bytes());
    }
    assert!(cache.len() > 1, "the newest entries are kept");
    assert!(cache.len() < 2_000);
    // The bytes counted go back to zero when everything goes.
    cache.remove_expired(t0 + secs(301));
    assert_eq!((cache.len(), cache.bytes()), (0, 0));
}

#[test]
fn replacing_and_removing_entries_keeps_the_byte_count() {
    let t0 = tern_runtime::time::now();
    let mut cache = Cache::new(8);
    cache.insert(
        name("a.example"),
        RecordType::A,
        vec![a("a.example", 60, 1)],
        t0,
    );
    let one = cache.bytes();
    assert!(one > 0);
    cache.insert(
        name("a.example"),
        RecordType::A,
        vec![a("a.example", 60, 2)],
        t0,
    );
    assert_eq!(cache.bytes(), one);
    cache.remove(&name("a.example"), RecordType::A);
    assert_eq!(cache.bytes(), 0);
    // An answer bigger than a quarter of the limit is not kept at all.
    let mut small = Cache::with_limits(8, 1000);
    let records: Vec<Record> = (0..64).map(|j| a("b.example", 60, j)).collect();
    small.insert(name("b.example"), RecordType::A, records, t0);
    assert_eq!((small.len(), small.bytes()), (0, 0));
}
