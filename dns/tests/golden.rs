//! Real replies captured from dnsmasq 2.90 (see `data/capture.py`), decoded
//! and compared field by field with what dig printed for the same bytes
//! (kept in each file's comment header).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use tern_dns::exchange::{classify, extract_answer, negative_ttl, validate_reply, Step, Transport};
use tern_dns::wire::{tcp_frame_len, Message, Rcode};
use tern_dns::{Error, Name, RData, Record, RecordType};

/// The query ID every capture used.
const ID: u16 = 0x7e57;

/// The bytes of `data/<file>.hex`, comments dropped.
fn load(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{file}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn rec(owner: &str, ttl: u32, data: RData) -> Record {
    Record {
        name: name(owner),
        ttl,
        data,
    }
}

/// Decodes the capture, checks it re-encodes to a message that decodes the
/// same, checks it is accepted as the reply to the query that produced it,
/// and returns it.
fn reply(file: &str, qname: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let bytes = load(file);
    let message = Message::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(
        Message::decode(&message.encode()).unwrap(),
        message,
        "{file}"
    );
    let query = Message::query(ID, &name(qname), qtype, edns);
    let accepted = validate_reply(&query, &bytes, Transport::Udp).unwrap();
    assert_eq!(accepted, message);
    assert_eq!(message.header.id, ID);
    assert!(message.header.qr && message.header.rd);
    assert_eq!(message.questions, query.questions);
    message
}

/// The EDNS the dnsmasq replies carry: "EDNS: version: 0, flags:; udp: 1232".
fn assert_edns_1232(m: &Message) {
    let edns = m.edns.as_ref().expect("OPT record");
    assert_eq!(
        (edns.payload, edns.version, edns.dnssec_ok),
        (1232, 0, false)
    );
    assert!(edns.options.is_empty());
}

#[test]
fn a_record() {
    // flags: qr aa rd ra; status: NOERROR; ANSWER: 1, ADDITIONAL: 1 (OPT)
    // host.tern.test.  300  IN  A  192.0.2.10
    let m = reply("a", "host.tern.test", RecordType::A, Some(1232));
    assert!(m.header.aa && m.header.ra && !m.header.tc);
    assert_eq!(m.rcode(), Rcode::NOERROR);
    assert_edns_1232(&m);
    let a = rec(
        "host.tern.test",
        300,
        RData::A(Ipv4Addr::new(192, 0, 2, 10)),
    );
    assert_eq!(m.answers, vec![a.clone()]);
    assert!(m.authorities.is_empty() && m.additionals.is_empty());
    assert_eq!(
        extract_answer(&name("host.tern.test"), RecordType::A, &m).unwrap(),
        vec![a]
    );
}

#[test]
fn aaaa_record() {
    // host.tern.test.  300  IN  AAAA  2001:db8::10
    let m = reply("aaaa", "host.tern.test", RecordType::AAAA, Some(1232));
    assert_edns_1232(&m);
    let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
    assert_eq!(m.answers, vec![rec("host.tern.test", 300, RData::AAAA(ip))]);
}

#[test]
fn cname_chain() {
    // www.tern.test.   300 IN CNAME web.tern.test.
    // web.tern.test.   300 IN CNAME host.tern.test.
    // host.tern.test.  300 IN A     192.0.2.10
    let m = reply("cname_chain", "www.tern.test", RecordType::A, Some(1232));
    assert_eq!(
        m.answers,
        vec![
            rec("www.tern.test", 300, RData::CNAME(name("web.tern.test"))),
            rec("web.tern.test", 300, RData::CNAME(name("host.tern.test"))),
            rec(
                "host.tern.test",
                300,
                RData::A(Ipv4Addr::new(192, 0, 2, 10))
            ),
        ]
    );
    let got = extract_answer(&name("www.tern.test"), RecordType::A, &m).unwrap();
    assert_eq!(
        got,
        vec![rec(
            "host.tern.test",
            300,
            RData::A(Ipv4Addr::new(192, 0, 2, 10))
        )]
    );
    let cname = extract_answer(&name("www.tern.test"), RecordType::CNAME, &m).unwrap();
    assert_eq!(
        cname,
        vec![rec(
            "www.tern.test",
            300,
            RData::CNAME(name("web.tern.test"))
        )]
    );
}

#[test]
fn mx_records() {
    // tern.test.  300  IN  MX  20 backup.tern.test.
    // tern.test.  300  IN  MX  10 mail.tern.test.
    let m = reply("mx", "tern.test", RecordType::MX, Some(1232));
    assert_eq!(
        m.answers,
        vec![
            rec(
                "tern.test",
                300,
                RData::MX {
                    preference: 20,
                    exchange: name("backup.tern.test")
                }
            ),
            rec(
                "tern.test",
                300,
                RData::MX {
                    preference: 10,
                    exchange: name("mail.tern.test")
                }
            ),
        ]
    );
}

#[test]
fn txt_record() {
    // flags: qr aa rd ra; no EDNS
    // txt.tern.test.  300  IN  TXT  "hello world" "v=spf1 -all"
    let m = reply("txt", "txt.tern.test", RecordType::TXT, None);
    assert!(m.edns.is_none());
    let txt = RData::TXT(vec![b"hello world".to_vec(), b"v=spf1 -all".to_vec()]);
    assert_eq!(m.answers, vec![rec("txt.tern.test", 300, txt)]);
    assert_eq!(
        m.answers[0].to_string(),
        "txt.tern.test. 300 IN TXT \"hello world\" \"v=spf1 -all\""
    );
}

#[test]
fn srv_record_with_additionals() {
    // ANSWER: 1, ADDITIONAL: 3
    // _http._tcp.tern.test.  300  IN  SRV   1 5 8080 host.tern.test.
    // ADDITIONAL: host.tern.test. 300 IN A 192.0.2.10
    //             host.tern.test. 300 IN AAAA 2001:db8::10
    let m = reply("srv", "_http._tcp.tern.test", RecordType::SRV, Some(1232));
    let srv = RData::SRV {
        priority: 1,
        weight: 5,
        port: 8080,
        target: name("host.tern.test"),
    };
    assert_eq!(m.answers, vec![rec("_http._tcp.tern.test", 300, srv)]);
    assert_eq!(
        m.additionals,
        vec![
            rec(
                "host.tern.test",
                300,
                RData::A(Ipv4Addr::new(192, 0, 2, 10))
            ),
            rec(
                "host.tern.test",
                300,
                RData::AAAA("2001:db8::10".parse().unwrap())
            ),
        ]
    );
    assert_edns_1232(&m);
}

#[test]
fn ptr_record() {
    // 1.2.0.192.in-addr.arpa.  300  IN  PTR  ptr.tern.test.
    let qname = Name::reverse_of("192.0.2.1".parse().unwrap());
    assert_eq!(qname.to_string(), "1.2.0.192.in-addr.arpa.");
    let m = reply("ptr", "1.2.0.192.in-addr.arpa", RecordType::PTR, Some(1232));
    assert_eq!(
        m.answers,
        vec![rec(
            "1.2.0.192.in-addr.arpa",
            300,
            RData::PTR(name("ptr.tern.test"))
        )]
    );
}

fn soa_600() -> Record {
    // zone.test. 600 IN SOA ns.zone.test. hostmaster.zone.test. 2024010101 1200 180 1209600 600
    rec(
        "zone.test",
        600,
        RData::SOA {
            mname: name("ns.zone.test"),
            rname: name("hostmaster.zone.test"),
            serial: 2024010101,
            refresh: 1200,
            retry: 180,
            expire: 1209600,
            minimum: 600,
        },
    )
}

#[test]
fn nxdomain_with_soa() {
    // status: NXDOMAIN; flags: qr aa rd; ANSWER: 0, AUTHORITY: 1
    let m = reply("nxdomain_soa", "nope.zone.test", RecordType::A, Some(1232));
    assert_eq!(m.rcode(), Rcode::NXDOMAIN);
    assert!(m.header.aa && !m.header.ra);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities, vec![soa_600()]);
    let query = Message::query(ID, &name("nope.zone.test"), RecordType::A, Some(1232));
    assert!(matches!(classify(&query, &m, Transport::Udp), Step::Done));
    let result = extract_answer(&name("nope.zone.test"), RecordType::A, &m);
    assert!(matches!(result, Err(Error::NxDomain)));
    assert_eq!(negative_ttl(&name("nope.zone.test"), &m), Some(600));
}

#[test]
fn nodata_with_soa() {
    // status: NOERROR; flags: qr aa rd; ANSWER: 0, AUTHORITY: 1
    let m = reply("nodata_soa", "in.zone.test", RecordType::AAAA, Some(1232));
    assert_eq!(m.rcode(), Rcode::NOERROR);
    assert_eq!(m.authorities, vec![soa_600()]);
    let result = extract_answer(&name("in.zone.test"), RecordType::AAAA, &m);
    assert!(matches!(result, Err(Error::NoData)));
    assert_eq!(negative_ttl(&name("in.zone.test"), &m), Some(600));
}

#[test]
fn nxdomain_without_soa() {
    // status: NXDOMAIN; flags: qr rd ra; nothing but the question
    let m = reply("nxdomain_local", "nope.tern.test", RecordType::A, None);
    assert_eq!(m.rcode(), Rcode::NXDOMAIN);
    assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
    assert!(matches!(
        extract_answer(&name("nope.tern.test"), RecordType::A, &m),
        Err(Error::NxDomain)
    ));
    assert_eq!(
        negative_ttl(&name("nope.tern.test"), &m),
        None,
        "no SOA: not cached"
    );
}

/// The 60 addresses of many.tern.test: 192.0.2.101 to 192.0.2.160.
fn is_many_address(r: &Record) -> bool {
    matches!(r.data, RData::A(ip) if (101..=160).contains(&ip.octets()[3]) && ip.octets()[..3] == [192, 0, 2])
        && r.name == name("many.tern.test")
        && r.ttl == 300
}

#[test]
fn truncated_udp_reply() {
    // 512 bytes; flags: qr aa tc rd ra; ANSWER: 30 (of 60); first 192.0.2.108
    let bytes = load("truncated");
    assert_eq!(bytes.len(), 512);
    let m = reply("truncated", "many.tern.test", RecordType::A, None);
    assert!(m.header.tc);
    assert_eq!(m.answers.len(), 30);
    assert!(m.answers.iter().all(is_many_address));
    assert_eq!(m.answers[0].data, RData::A(Ipv4Addr::new(192, 0, 2, 108)));
    let query = Message::query(ID, &name("many.tern.test"), RecordType::A, None);
    assert!(matches!(
        classify(&query, &m, Transport::Udp),
        Step::RetryTcp
    ));
    // Cut anywhere after the question, it is still understood as truncated.
    for cut in [40, 100, 511] {
        let head = validate_reply(&query, &bytes[..cut], Transport::Udp).unwrap();
        assert!(matches!(
            classify(&query, &head, Transport::Udp),
            Step::RetryTcp
        ));
    }
}

#[test]
fn full_reply_over_tcp() {
    // 994 bytes with the 2-byte prefix; flags: qr aa rd ra; ANSWER: 60
    let framed = load("many_tcp");
    assert_eq!(tcp_frame_len(&framed), Some(framed.len() - 2));
    let bytes = &framed[2..];
    let query = Message::query(ID, &name("many.tern.test"), RecordType::A, None);
    let m = validate_reply(&query, bytes, Transport::Tcp).unwrap();
    assert!(!m.header.tc);
    assert!(matches!(classify(&query, &m, Transport::Tcp), Step::Done));
    assert_eq!(m.answers.len(), 60);
    assert!(m.answers.iter().all(is_many_address));
    let mut last: Vec<u8> = m
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(ip) => Some(ip.octets()[3]),
            _ => None,
        })
        .collect();
    last.sort_unstable();
    assert_eq!(last, (101..=160).collect::<Vec<u8>>(), "every address once");
    assert_eq!(
        extract_answer(&name("many.tern.test"), RecordType::A, &m)
            .unwrap()
            .len(),
        60
    );
}

/// The records dig printed for a capture (its ANSWER, AUTHORITY and
/// ADDITIONAL sections, from the file's comments), whitespace-normalised.
fn dig_records(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{file}.hex"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_section = false;
    let mut out = Vec::new();
    for line in text.lines().filter_map(|l| l.strip_prefix('#')) {
        let line = line.trim();
        if line.starts_with(";;") {
            in_section = ["ANSWER SECTION", "AUTHORITY SECTION", "ADDITIONAL SECTION"]
                .iter()
                .any(|s| line.contains(s));
        } else if line.is_empty() {
            in_section = false;
        } else if in_section {
            out.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}

#[test]
fn every_record_prints_as_dig_printed_it() {
    let files = [
        "a",
        "aaaa",
        "cname_chain",
        "mx",
        "txt",
        "srv",
        "ptr",
        "nxdomain_soa",
        "nodata_soa",
        "nxdomain_local",
        "truncated",
        "many_tcp",
    ];
    for file in files {
        let mut bytes = load(file);
        if file.ends_with("tcp") {
            bytes.drain(..2);
        }
        let m = Message::decode(&bytes).unwrap();
        let ours: Vec<String> = m
            .answers
            .iter()
            .chain(&m.authorities)
            .chain(&m.additionals)
            .map(Record::to_string)
            .collect();
        assert_eq!(ours, dig_records(file), "{file}");
        // The header line too, ID aside.
        let text = m.to_string();
        let flags = text.lines().nth(1).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(format!("{file}.hex"));
        let dig = std::fs::read_to_string(path).unwrap();
        assert!(dig.contains(flags), "{file}: {flags}");
    }
}
