//! Unit tests of [`Message`](super::Message) encoding and decoding.

use super::*;
use crate::record::RData;
use std::net::Ipv4Addr;

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record {
        name: name(owner),
        ttl,
        data: RData::A(Ipv4Addr::from(ip)),
    }
}

fn err(bytes: &[u8]) -> String {
    match Message::decode(bytes) {
        Err(Error::Malformed(why)) => why.to_string(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn query_bytes_match_a_real_query() {
    // What `dig +noedns example.com A` sends, with ID 0x1234.
    let q = Message::query(0x1234, &name("example.com"), RecordType::A, None);
    assert_eq!(
        q.encode(),
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
          \x07example\x03com\x00\x00\x01\x00\x01"
            .to_vec()
    );
    let with_edns = Message::query(1, &name("example.com"), RecordType::AAAA, Some(1232));
    let bytes = with_edns.encode();
    assert!(bytes.ends_with(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"));
    assert_eq!(Message::decode(&bytes).unwrap(), with_edns);
}

#[test]
fn reply_round_trips_with_compression() {
    let mut m = Message::query(7, &name("www.example.com"), RecordType::A, Some(4096));
    m.header.qr = true;
    m.header.ra = true;
    m.answers = vec![
        Record {
            name: name("www.example.com"),
            ttl: 60,
            data: RData::CNAME(name("web.example.com")),
        },
        a("web.example.com", 30, [192, 0, 2, 1]),
        a("web.example.com", 30, [192, 0, 2, 2]),
    ];
    m.authorities = vec![Record {
        name: name("example.com"),
        ttl: 9,
        data: RData::NS(name("ns.example.com")),
    }];
    m.additionals = vec![a("ns.example.com", 9, [192, 0, 2, 53])];
    let bytes = m.encode();
    assert_eq!(Message::decode(&bytes).unwrap(), m);
    // Compression at work: "example.com" is spelled out once.
    assert_eq!(bytes.windows(7).filter(|w| w == b"example").count(), 1);
}

#[test]
fn extended_rcode() {
    let mut m = Message::default();
    m.header.rcode = Rcode(0);
    m.edns = Some(Edns {
        ext_rcode: 1,
        ..Edns::new(512)
    });
    assert_eq!(m.rcode(), Rcode::BADVERS);
    m.edns = None;
    m.header.rcode = Rcode::NXDOMAIN;
    assert_eq!(m.rcode(), Rcode::NXDOMAIN);
}

#[test]
fn short_and_empty_packets() {
    assert!(err(&[]).contains("header"));
    assert!(err(&[0; 11]).contains("header"));
    assert_eq!(Message::decode(&[0; 12]).unwrap(), Message::default());
}

#[test]
fn counts_larger_than_packet() {
    let mut bytes = vec![
        0, 1, 0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert!(err(&bytes).contains("question name"));
    bytes[4] = 0;
    bytes[5] = 0;
    assert!(err(&bytes).contains("answer"));
}

#[test]
fn trailing_garbage() {
    let mut bytes = Message::query(1, &name("a"), RecordType::A, None).encode();
    bytes.push(0);
    assert!(err(&bytes).contains("trailing"));
}

#[test]
fn rdata_must_fill_rdlength() {
    let mut m = Message::default();
    m.answers.push(a("a", 1, [1, 2, 3, 4]));
    let mut bytes = m.encode();
    // RDLENGTH 4 -> 5 with one extra byte: "left over".
    let len_at = bytes.len() - 6;
    bytes[len_at + 1] = 5;
    bytes.push(9);
    assert!(err(&bytes).contains("left over"));
    // RDLENGTH past the end.
    bytes.pop();
    assert!(
        err(&bytes).contains("record data at offset"),
        "{}",
        err(&bytes)
    );
    assert!(err(&bytes).ends_with("runs past the end"));
}

#[test]
fn other_classes_are_skipped() {
    let mut m = Message::default();
    m.answers.push(a("a", 1, [1, 2, 3, 4]));
    m.answers.push(a("b", 1, [1, 2, 3, 4]));
    let mut bytes = m.encode();
    // Class of the first record (after header, owner "a.", type) -> CH (3).
    bytes[12 + 3 + 2 + 1] = 3;
    let decoded = Message::decode(&bytes).unwrap();
    assert_eq!(decoded.answers, vec![a("b", 1, [1, 2, 3, 4])]);
}

#[test]
fn opt_rules() {
    let m = Message {
        edns: Some(Edns::new(1232)),
        ..Message::default()
    };
    let bytes = m.encode();
    assert_eq!(bytes[11], 1, "OPT counted in ARCOUNT");
    // Move the OPT into the answer section: ANCOUNT 1, ARCOUNT 0.
    let mut moved = bytes.clone();
    moved[7] = 1;
    moved[11] = 0;
    assert!(err(&moved).contains("OPT record at offset 12 is an OPT record out of place"));
    // Two OPT records.
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes[12..]);
    twice[11] = 2;
    assert!(err(&twice).contains("out of place"));
    // OPT with a non-root owner.
    let mut owned = vec![0u8; 11];
    owned.push(1);
    owned.extend_from_slice(b"\x01a");
    owned.extend_from_slice(&bytes[12..]);
    assert!(err(&owned).contains("out of place"));
}

#[test]
fn decode_question_ignores_cut_sections() {
    let mut m = Message::query(9, &name("big.example"), RecordType::A, None);
    m.header.qr = true;
    m.header.tc = true;
    m.answers.push(a("big.example", 1, [1, 2, 3, 4]));
    let mut bytes = m.encode();
    bytes.truncate(bytes.len() - 3);
    assert!(Message::decode(&bytes).is_err());
    let head = Message::decode_question(&bytes).unwrap();
    assert!(head.header.tc);
    assert_eq!(head.questions, m.questions);
    assert!(head.answers.is_empty());
}

#[test]
fn oversized_rdata_is_left_out() {
    let mut m = Message::default();
    m.answers.push(Record {
        name: name("big"),
        ttl: 1,
        data: RData::Other {
            rtype: 99,
            data: vec![0; 70_000],
        },
    });
    m.answers.push(a("small", 1, [1, 2, 3, 4]));
    let decoded = Message::decode(&m.encode()).unwrap();
    assert_eq!(decoded.answers, vec![a("small", 1, [1, 2, 3, 4])]);
}

#[test]
fn pointer_into_a_dropped_record_is_never_written() {
    // The dropped record's owner must not serve as a compression target.
    let mut m = Message::default();
    m.answers.push(Record {
        name: name("x.big"),
        ttl: 1,
        data: RData::Other {
            rtype: 99,
            data: vec![0; 70_000],
        },
    });
    m.answers.push(a("x.big", 1, [1, 2, 3, 4]));
    let decoded = Message::decode(&m.encode()).unwrap();
    assert_eq!(decoded.answers, vec![a("x.big", 1, [1, 2, 3, 4])]);
}
