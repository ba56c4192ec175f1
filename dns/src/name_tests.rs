//! Unit tests of [`Name`](super::Name): parsing, display, limits, comparison.

use super::*;
use std::collections::hash_map::DefaultHasher;
use std::net::{Ipv4Addr, Ipv6Addr};

fn name(text: &str) -> Name {
    text.parse().expect(text)
}

fn invalid(text: &str) -> String {
    match text.parse::<Name>() {
        Err(Error::InvalidName(why)) => why,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

#[test]
fn parses_with_and_without_trailing_dot() {
    assert_eq!(
        name("www.example.com").as_wire(),
        b"\x03www\x07example\x03com\x00"
    );
    assert_eq!(name("www.example.com."), name("www.example.com"));
    assert_eq!(name("localhost").to_string(), "localhost.");
}

#[test]
fn root() {
    assert!(name(".").is_root());
    assert_eq!(name(".").as_wire(), b"\x00");
    assert_eq!(Name::root().to_string(), ".");
    assert_eq!(Name::root().label_count(), 0);
}

#[test]
fn rejects_bad_text() {
    assert!(invalid("").contains("empty name"));
    assert!(invalid("..").contains("empty label"));
    assert!(invalid("a..b").contains("empty label"));
    assert!(invalid(".a").contains("empty label"));
    assert!(invalid("a b").contains("space"));
    assert!(invalid("bücher.de").contains("non-ASCII"));
    assert!(invalid("a\\").contains("dangling"));
    assert!(invalid("a\\256").contains("above 255"));
    assert!(invalid("a\\12").contains("three digits"));
    assert!(invalid("a\tb").contains("control"));
}

#[test]
fn label_and_name_limits() {
    let l63 = "a".repeat(63);
    assert_eq!(name(&l63).wire_len(), 65);
    assert!(invalid(&"a".repeat(64)).contains("label longer than 63"));
    // 4 labels of 63 = 4 * 64 + 1 = 257 bytes: too long.
    let long = [l63.as_str(); 4].join(".");
    assert!(invalid(&long).contains("longer than 255"));
    // 3 * 64 + 62 + 1 = 255 bytes exactly is fine.
    let max = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
    assert_eq!(name(&max).wire_len(), 255);
    assert_eq!(name(&format!("{max}.")).wire_len(), 255);
    assert!(invalid(&format!("{max}a")).contains("longer than 255"));
    // Huge input stops early with a short message.
    let huge = "x".repeat(100_000);
    assert!(invalid(&huge).len() < 200);
}

#[test]
fn escapes_round_trip() {
    let n = name("a\\.b.c");
    assert_eq!(n.label_count(), 2);
    assert_eq!(n.labels().next(), Some(&b"a.b"[..]));
    assert_eq!(n.to_string(), "a\\.b.c.");
    let n = name("\\000\\255\\032x\\\\");
    assert_eq!(n.labels().next(), Some(&b"\x00\xff x\\"[..]));
    assert_eq!(n.to_string(), "\\000\\255\\032x\\\\.");
    assert_eq!(name(&n.to_string()), n);
    assert_eq!(name("\\065").to_string(), "A.");
    assert_eq!(name("a\\ b").to_string(), "a\\032b.");
}

#[test]
fn case_insensitive_eq_hash_ord() {
    let a = name("WWW.Example.COM");
    let b = name("www.example.com");
    assert_eq!(a, b);
    let hash = |n: &Name| {
        let mut h = DefaultHasher::new();
        n.hash(&mut h);
        h.finish()
    };
    assert_eq!(hash(&a), hash(&b));
    assert_eq!(a.cmp(&b), Ordering::Equal);
    assert_eq!(a.to_string(), "WWW.Example.COM.");
    assert_ne!(name("a.example"), name("b.example"));
}

#[test]
fn canonical_order() {
    // RFC 4034 §6.1 example, in order.
    let sorted = [
        "example",
        "a.example",
        "yljkjljk.a.example",
        "Z.a.example",
        "zABC.a.EXAMPLE",
        "z.example",
        "\\001.z.example",
        "*.z.example",
        "\\200.z.example",
    ];
    let names: Vec<Name> = sorted.iter().map(|t| name(t)).collect();
    for pair in names.windows(2) {
        assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
    }
}

#[test]
fn join_and_subdomain() {
    let www = name("www");
    let joined = www.join(&name("example.com")).unwrap();
    assert_eq!(joined, name("www.example.com"));
    assert_eq!(www.join(&Name::root()).unwrap(), www);
    assert_eq!(Name::root().join(&www).unwrap(), www);
    let l63 = "a".repeat(63);
    let big = name(&format!("{l63}.{l63}.{l63}"));
    assert!(big.join(&big).is_err());

    assert!(name("www.Example.com").is_subdomain_of(&name("example.COM")));
    assert!(name("example.com").is_subdomain_of(&name("example.com")));
    assert!(name("example.com").is_subdomain_of(&Name::root()));
    assert!(!name("example.com").is_subdomain_of(&name("www.example.com")));
    assert!(!name("badexample.com").is_subdomain_of(&name("example.com")));
}

#[test]
fn from_labels_checks_limits() {
    let n = Name::from_labels(["www", "example"]).unwrap();
    assert_eq!(n, name("www.example"));
    assert!(Name::from_labels([""]).is_err());
    assert!(Name::from_labels([[b'a'; 64]]).is_err());
    assert!(Name::from_labels([[b'a'; 63]; 4]).is_err());
    assert_eq!(Name::from_labels(Vec::<&str>::new()).unwrap(), Name::root());
}

#[test]
fn reverse_names() {
    let v4 = Name::reverse_of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(v4.to_string(), "1.2.0.192.in-addr.arpa.");
    let v6: Ipv6Addr = "2001:db8::567:89ab".parse().unwrap();
    let v6 = Name::reverse_of(IpAddr::V6(v6));
    assert_eq!(
        v6.to_string(),
        "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    );
    assert_eq!(v6.label_count(), 34);
}

#[test]
fn wire_check() {
    assert!(is_valid_wire(b"\x00"));
    assert!(is_valid_wire(b"\x01a\x00"));
    assert!(!is_valid_wire(b""));
    assert!(!is_valid_wire(b"\x01a"));
    assert!(!is_valid_wire(b"\x02a\x00"));
    assert!(!is_valid_wire(b"\x00\x00"));
    assert!(!is_valid_wire(b"\x40aaaa\x00"));
}

/// The label-by-label parser gives what the byte-by-byte one gives (the
/// same name or the same error) for every text it takes: random texts of
/// labels near the 63-byte limit, empty labels, and lengths around 253.
#[test]
fn plain_parser_agrees_with_the_general_one() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut taken = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        let labels = 1 + next(6);
        for i in 0..labels {
            if i > 0 {
                text.push('.');
            }
            let len = [0, 1, 2, 62, 63, 64, 70][next(7)];
            for _ in 0..len {
                text.push(['a', 'Z', '9', '-', '_', '*'][next(6)]);
            }
        }
        if next(3) == 0 {
            text.push('.');
        }
        if text.is_empty() || text == "." {
            continue;
        }
        if let Some(plain) = parse_plain(&text) {
            taken += 1;
            let general = parse_escaped(&text);
            match (&plain, &general) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.as_wire(), b.as_wire(), "{text:?}");
                    // Kept the same way: inline when short, on the heap else.
                    let inline = |n: &Name| matches!(n.wire, Wire::Inline { .. });
                    assert_eq!(inline(a), inline(b), "{text:?}");
                    assert_eq!(inline(a), a.as_wire().len() <= INLINE_LEN, "{text:?}");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{text:?}"),
                _ => panic!("{text:?}: plain {plain:?}, general {general:?}"),
            }
        }
    }
    assert!(taken > 10_000, "the plain parser took only {taken} texts");
    // What the plain parser leaves to the general one.
    for text in ["a\\.b", "a b", "caf\u{e9}", &"a.".repeat(127)] {
        assert!(parse_plain(text).is_none(), "{text:?}");
    }
}

/// Short names live inside the `Name`, long ones on the heap; both behave
/// the same.
#[test]
fn inline_and_heap_names_compare_and_hash_alike() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let hash = |n: &Name| {
        let mut h = DefaultHasher::new();
        n.hash(&mut h);
        h.finish()
    };
    for text in [
        "a",
        "www.example.com",
        &"x".repeat(36),
        &"x".repeat(37),
        &format!("{}.{}", "a".repeat(63), "B".repeat(63)),
    ] {
        let lower = name(&text.to_ascii_lowercase());
        let upper = name(&text.to_ascii_uppercase());
        assert_eq!(lower, upper);
        assert_eq!(hash(&lower), hash(&upper), "{text}");
        assert_eq!(lower.wire_len(), text.len() + 2);
        assert_eq!(lower.to_string(), format!("{}.", text.to_ascii_lowercase()));
        let joined = name("www").join(&lower).unwrap();
        assert_eq!(
            joined.to_string(),
            format!("www.{}.", text.to_ascii_lowercase())
        );
    }
}

/// The word-at-a-time case folding of the hash is `to_ascii_lowercase` on
/// every byte value in every position.
#[test]
fn lower_word_folds_like_to_ascii_lowercase() {
    for b in 0..=255u8 {
        for at in 0..8 {
            let mut bytes = [b'x'; 8];
            bytes[at] = b;
            let mut want = bytes;
            want.iter_mut().for_each(|c| *c = c.to_ascii_lowercase());
            let got = lower_word(u64::from_le_bytes(bytes)).to_le_bytes();
            assert_eq!(got, want, "byte {b:#04x} at {at}");
        }
    }
}

/// Equality ignores ASCII case and nothing else, at every length and
/// position (the comparison runs eight bytes at a time).
#[test]
fn equality_ignores_ascii_case_only() {
    for len in 1..=40usize {
        let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let lower = name(&text);
        assert_eq!(lower, name(&text.to_ascii_uppercase()), "{text}");
        for at in 0..len {
            let mut other = text.clone().into_bytes();
            other[at] = if other[at] == b'z' {
                b'y'
            } else {
                other[at] + 1
            };
            let other = name(std::str::from_utf8(&other).unwrap());
            assert_ne!(lower, other, "{text} at {at}");
        }
        // A byte that differs from a letter only in the 0x20 bit but is
        // not a letter ('@' vs '`') is not a case difference.
        let at_sign = name(&format!("{text}@"));
        assert_ne!(at_sign, name(&format!("{text}`")));
        assert_ne!(lower, name(&format!("{text}a")), "lengths differ");
    }
}
