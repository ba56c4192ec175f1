//! Mutation fuzzing of the decoder and the reply checks, deterministic.
//!
//! Valid messages (generated ones and the dnsmasq captures) are mutated —
//! bit flips, byte sets, truncation, extension, count changes, compression
//! pointers injected anywhere — and fed to `Message::decode`,
//! `Header::decode`, `validate_reply` and `extract_answer`. Nothing may
//! panic; whatever decodes must hold no more records than its bytes can
//! carry, must re-encode to a message that decodes the same, and the
//! decoder's largest single allocation must stay proportional to the packet
//! (counts in the header are never trusted for preallocation).
//!
//! `TERN_FUZZ_ITERS` sets the number of mutated packets (default 100000).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::mutation::mutate;
use common::Rng;
use tern_dns::exchange::{extract_answer, validate_reply, Transport};
use tern_dns::wire::{Header, Message};
use tern_dns::Name;

// ===== allocation tracking =====

/// The system allocator, noting the largest single request per thread while
/// tracking is on for that thread.
struct Tracking;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: never panic inside the allocator, even during thread exit.
    if TRACKING.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; `note` only touches
// const-initialised thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` via `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged; `ptr` came from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Decodes `bytes` and returns the result with the largest single
/// allocation made while doing so.
fn decode_tracked(bytes: &[u8]) -> (Result<Message, tern_dns::Error>, usize) {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let result = Message::decode(bytes);
    TRACKING.with(|t| t.set(false));
    (result, LARGEST.with(Cell::get))
}

// ===== inputs =====

fn iterations() -> usize {
    std::env::var("TERN_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Valid packets to mutate: generated messages and the golden captures.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = (0..200)
        .map(|s| common::message(&mut Rng::new(s)).encode())
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "hex") {
            let text = std::fs::read_to_string(&path).unwrap();
            let hex: String = text.lines().filter(|l| !l.starts_with('#')).collect();
            let mut bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("tcp"))
            {
                bytes.drain(..2);
            }
            seeds.push(bytes);
        }
    }
    seeds
}

/// Everything the resolver does with untrusted bytes must hold for `packet`.
fn check(packet: &[u8]) {
    let _ = Header::decode(packet);
    let (result, largest) = decode_tracked(packet);
    assert!(
        largest <= 64 * packet.len() + 4096,
        "decoding {} bytes allocated {largest} bytes at once: {packet:02x?}",
        packet.len()
    );
    let Ok(message) = result else {
        return;
    };
    let records = message.answers.len() + message.authorities.len() + message.additionals.len();
    assert!(
        records <= packet.len() / 11,
        "{records} records from {} bytes",
        packet.len()
    );
    assert!(message.questions.len() <= packet.len() / 5);
    let again = Message::decode(&message.encode()).expect("a decoded message re-encodes");
    assert_eq!(again, message);
    if let Some(q) = message.questions.first() {
        let query = Message::query(message.header.id, &q.name, q.qtype, None);
        let _ = validate_reply(&query, packet, Transport::Udp);
        let _ = extract_answer(&q.name, q.qtype, &message);
    }
}

// ===== tests =====

#[test]
fn mutated_packets_never_panic() {
    let seeds = seeds();
    let mut rng = Rng::new(0x7e57);
    let mut decoded = 0usize;
    for _ in 0..iterations() {
        let mut packet = rng.pick(&seeds).clone();
        mutate(&mut rng, &mut packet);
        check(&packet);
        decoded += usize::from(Message::decode(&packet).is_ok());
    }
    println!("mutated packets: {} tried, {decoded} decoded", iterations());
    // The mutations must leave some packets decodable, or they test little.
    assert!(decoded > 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(99);
    for _ in 0..iterations() / 10 {
        let len = rng.below(600);
        check(&rng.bytes(len));
    }
    println!("random packets: {} tried", iterations() / 10);
}

fn header(counts: [u16; 4]) -> Vec<u8> {
    let mut h = vec![0x12, 0x34, 0x81, 0x80];
    for c in counts {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

fn malformed(packet: &[u8]) -> String {
    check(packet);
    match Message::decode(packet) {
        Err(tern_dns::Error::Malformed(why)) => why.to_string(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn structured_cases() {
    // 0-byte and 11-byte packets.
    assert!(malformed(&[]).contains("header"));
    assert!(malformed(&[0; 11]).contains("header"));
    // Counts far larger than the packet.
    assert!(malformed(&header([0xffff; 4])).contains("question"));
    assert!(malformed(&header([0, 0xffff, 0, 0])).contains("answer"));
    let (_, largest) = decode_tracked(&header([0, 0xffff, 0xffff, 0xffff]));
    assert!(
        largest < 4096,
        "counts must not drive preallocation: {largest}"
    );
    // A question whose name points to itself.
    let mut p = header([1, 0, 0, 0]);
    p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("does not point backwards"));
    // A forward pointer.
    let mut p = header([1, 0, 0, 0]);
    p.extend_from_slice(&[0xc0, 14, 0, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("does not point backwards"));
    // A loop: label "a" then a pointer back to the label.
    let mut p = header([1, 0, 0, 0]);
    p.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("does not point backwards"));
    // Two names pointing at each other: the second may point back at the
    // first, the first cannot point forward at the second.
    let mut p = header([2, 0, 0, 0]);
    p.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("does not point backwards"));
    // A 64-byte label (0x40 is also a reserved label type).
    let mut p = header([1, 0, 0, 0]);
    p.push(64);
    p.extend_from_slice(&[b'x'; 64]);
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("label type 0x40"));
    // A 256-byte name, spelled out, and one built from pointers.
    let mut p = header([1, 0, 0, 0]);
    for _ in 0..4 {
        p.push(63);
        p.extend_from_slice(&[b'y'; 63]);
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert!(malformed(&p).contains("longer than 255"));
    let mut p = header([5, 0, 0, 0]);
    let mut prev: Option<u16> = None;
    for _ in 0..5 {
        let here = p.len() as u16;
        p.push(63);
        p.extend_from_slice(&[b'z'; 63]);
        match prev {
            None => p.push(0),
            Some(at) => p.extend_from_slice(&(0xc000u16 | at).to_be_bytes()),
        }
        p.extend_from_slice(&[0, 1, 0, 1]);
        prev = Some(here);
    }
    assert!(malformed(&p).contains("longer than 255"));
    // The longest legal name decodes.
    let longest: Name = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61))
        .parse()
        .unwrap();
    let query = Message::query(1, &longest, tern_dns::RecordType::A, None);
    assert_eq!(Message::decode(&query.encode()).unwrap(), query);
}

#[test]
fn junk_from_the_right_server_is_rejected_not_fatal() {
    // c-ares CVE-2023-32067: an empty datagram must not end the query.
    let name: Name = "example.com".parse().unwrap();
    let query = Message::query(0x4242, &name, tern_dns::RecordType::A, Some(1232));
    assert!(validate_reply(&query, &[], Transport::Udp).is_err());
    let mut rng = Rng::new(5);
    for _ in 0..1000 {
        let len = rng.below(100);
        let mut junk = rng.bytes(len);
        if junk.len() >= 2 {
            junk[0] = 0x42;
            junk[1] = 0x42;
        }
        assert!(validate_reply(&query, &junk, Transport::Udp).is_err());
    }
}

/// Issue 17: rejecting junk allocates nothing — neither the error (a small
/// `Copy` value) nor a name that fails half-way.
#[test]
fn junk_is_rejected_without_allocating() {
    let name: Name = "example.com".parse().unwrap();
    let query = Message::query(0x4242, &name, tern_dns::RecordType::A, Some(1232));
    let mut rng = Rng::new(17);
    let mut rejected = 0;
    let mut allocations = 0;
    for i in 0..10_000 {
        let len = rng.below(120);
        let mut junk = rng.bytes(len);
        if junk.len() >= 13 {
            // The right ID and QR set, a question count of 1, and a first
            // name that starts with a reserved label type or a forward
            // pointer: it fails before any name is whole.
            junk[..4].copy_from_slice(&[0x42, 0x42, 0x81, 0x80]);
            junk[4..6].copy_from_slice(&[0, 1]);
            junk[12] = if i % 2 == 0 { 0x40 } else { 0xc0 };
            if let Some(b) = junk.get_mut(13) {
                *b = 0xff;
            }
        }
        COUNT.with(|c| c.set(0));
        TRACKING.with(|t| t.set(true));
        let result = validate_reply(&query, &junk, Transport::Udp);
        TRACKING.with(|t| t.set(false));
        if result.is_err() {
            rejected += 1;
            allocations += COUNT.with(Cell::get);
        }
    }
    assert_eq!(rejected, 10_000);
    assert_eq!(
        allocations, 0,
        "allocations while rejecting 10,000 junk datagrams"
    );
}
