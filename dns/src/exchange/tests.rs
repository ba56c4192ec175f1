//! Unit tests of the exchange decisions.

use super::*;
use crate::error::Error;
use crate::name::Name;
use crate::record::{RData, Record, RecordType};
use crate::wire::{Edns, Message, Rcode};

use crate::test_records::{a, name};

/// Every answer test here checks [`super::take_answer`] as well: it must
/// give exactly what [`super::extract_answer`] gives.
fn extract_answer(qname: &Name, qtype: RecordType, reply: &Message) -> Result<Vec<Record>, Error> {
    let borrowed = super::extract_answer(qname, qtype, reply);
    let taken = super::take_answer(qname, qtype, reply.clone());
    match (&borrowed, &taken) {
        (Ok(b), Ok(t)) => assert_eq!(b, t),
        (Err(b), Err(t)) => assert_eq!(b.to_string(), t.to_string()),
        _ => panic!("extract_answer gave {borrowed:?}, take_answer {taken:?}"),
    }
    borrowed
}

/// Every UDP validation test here checks [`super::validate_asked`] as
/// well: for a query [`Message::query`] made, it must accept and reject
/// what [`super::validate_reply`] does and give the same message, but for
/// the question section it leaves out when the echo was byte for byte.
fn validate_reply(query: &Message, reply: &[u8], transport: Transport) -> Result<Message, Reject> {
    let full = super::validate_reply(query, reply, transport);
    if transport == Transport::Udp {
        if let Some(asked) = asked_of(query) {
            same_verdict(&full, &validate_asked(&asked, reply), &asked);
        }
    }
    full
}

/// What the resolver keeps of `query`, if `Message::query` made it.
fn asked_of(query: &Message) -> Option<Asked> {
    let q = query.questions.first()?;
    let payload = query.edns.as_ref().map(|e| e.payload);
    let made = Message::query(query.header.id, &q.name, q.qtype, payload);
    (made == *query).then(|| Asked {
        id: query.header.id,
        name: q.name.clone(),
        qtype: q.qtype,
        edns: payload.is_some(),
    })
}

fn same_verdict(full: &Result<Message, Reject>, fast: &Result<Message, Reject>, asked: &Asked) {
    match (full, fast) {
        (Ok(full), Ok(fast)) => {
            let mut fast = fast.clone();
            match (fast.questions.first(), full.questions.first()) {
                (Some(echo), _) => assert_ne!(echo.name.as_wire(), asked.name.as_wire()),
                (None, Some(echo)) => {
                    assert_eq!(echo.name.as_wire(), asked.name.as_wire());
                    fast.questions = full.questions.clone();
                }
                (None, None) => {}
            }
            assert_eq!(*full, fast);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("validate_reply gave {full:?}, validate_asked {fast:?}"),
    }
}

fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record {
        name: name(owner),
        ttl,
        data: RData::CNAME(name(target)),
    }
}

fn soa(owner: &str, ttl: u32, minimum: u32) -> Record {
    Record {
        name: name(owner),
        ttl,
        data: RData::SOA {
            mname: name("ns.example"),
            rname: name("admin.example"),
            serial: 1,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum,
        },
    }
}

fn query() -> Message {
    Message::query(0xbeef, &name("www.example"), RecordType::A, Some(1232))
}

fn reply_to(q: &Message, rcode: Rcode, answers: Vec<Record>) -> Message {
    let mut r = q.clone();
    r.header.qr = true;
    r.header.ra = true;
    r.header.rcode = rcode;
    r.answers = answers;
    r
}

#[test]
fn accepts_the_real_reply() {
    let q = query();
    let mut r = reply_to(&q, Rcode::NOERROR, vec![a("www.example", 60, 1)]);
    r.questions[0].name = name("WwW.ExAmPlE"); // 0x20 case changes are fine
    let got = validate_reply(&q, &r.encode(), Transport::Udp).unwrap();
    assert_eq!(got, r);
}

#[test]
fn rejects_what_is_not_the_reply() {
    let q = query();
    let good = reply_to(&q, Rcode::NOERROR, vec![]);
    let check = |m: &Message| validate_reply(&q, &m.encode(), Transport::Udp).unwrap_err();

    assert!(matches!(
        validate_reply(&q, &[], Transport::Udp),
        Err(Reject::Malformed(_))
    ));
    assert!(matches!(
        validate_reply(&q, &[0; 11], Transport::Udp),
        Err(Reject::Malformed(_))
    ));
    assert!(matches!(check(&q), Reject::NotResponse));
    let mut m = good.clone();
    m.header.id ^= 1;
    assert!(matches!(
        check(&m),
        Reject::IdMismatch {
            expected: 0xbeef,
            got: 0xbeee
        }
    ));
    let mut m = good.clone();
    m.questions[0].name = name("other.example");
    assert!(matches!(check(&m), Reject::QuestionMismatch));
    let mut m = good.clone();
    m.questions[0].qtype = RecordType::AAAA;
    assert!(matches!(check(&m), Reject::QuestionMismatch));
    let mut m = good.clone();
    m.questions[0].qclass = 3;
    assert!(matches!(check(&m), Reject::QuestionMismatch));
    let mut m = good.clone();
    m.questions.clear();
    assert!(
        matches!(check(&m), Reject::QuestionMismatch),
        "answers must echo the question"
    );
    let mut m = good.clone();
    m.questions.push(m.questions[0].clone());
    assert!(matches!(check(&m), Reject::QuestionMismatch));
    let mut bytes = good.encode();
    bytes.push(0);
    assert!(matches!(
        validate_reply(&q, &bytes, Transport::Udp),
        Err(Reject::Malformed(_))
    ));
    assert!(check(&q).to_string().contains("QR"));
}

#[test]
fn error_replies_without_question_are_accepted() {
    let q = query();
    let mut m = reply_to(&q, Rcode::SERVFAIL, vec![]);
    m.questions.clear();
    m.edns = None;
    let got = validate_reply(&q, &m.encode(), Transport::Udp).unwrap();
    assert!(matches!(
        classify(&q, &got, Transport::Udp),
        Step::NextServer(Error::ServFail)
    ));
    m.header.rcode = Rcode::NXDOMAIN;
    assert!(validate_reply(&q, &m.encode(), Transport::Udp).is_err());
}

#[test]
fn truncated_udp_reply_means_tcp() {
    let q = query();
    let mut m = reply_to(&q, Rcode::NOERROR, vec![a("www.example", 60, 1)]);
    m.header.tc = true;
    m.edns = None;
    let mut bytes = m.encode();
    bytes.truncate(bytes.len() - 4); // cut inside the answer
    let got = validate_reply(&q, &bytes, Transport::Udp).unwrap();
    assert!(got.answers.is_empty());
    assert!(matches!(classify(&q, &got, Transport::Udp), Step::RetryTcp));
    // Over TCP a cut message is just malformed, and TC means nothing.
    assert!(validate_reply(&q, &bytes, Transport::Tcp).is_err());
    let whole = validate_reply(&q, &m.encode(), Transport::Tcp).unwrap();
    assert!(matches!(classify(&q, &whole, Transport::Tcp), Step::Done));
    // TC with no question at all is still a reason to retry over TCP.
    m.questions.clear();
    m.answers.clear();
    let got = validate_reply(&q, &m.encode(), Transport::Udp).unwrap();
    assert!(matches!(classify(&q, &got, Transport::Udp), Step::RetryTcp));
}

#[test]
fn classification() {
    let q = query();
    let step = |rcode: Rcode, edns: Option<Edns>| {
        let mut r = reply_to(&q, rcode, vec![]);
        r.edns = edns;
        classify(&q, &r, Transport::Udp)
    };
    assert!(matches!(step(Rcode::NOERROR, None), Step::Done));
    assert!(matches!(step(Rcode::NXDOMAIN, None), Step::Done));
    assert!(matches!(
        step(Rcode::SERVFAIL, None),
        Step::NextServer(Error::ServFail)
    ));
    assert!(matches!(
        step(Rcode::REFUSED, None),
        Step::NextServer(Error::Refused)
    ));
    assert!(matches!(step(Rcode::FORMERR, None), Step::RetryWithoutEdns));
    assert!(matches!(step(Rcode::NOTIMP, None), Step::RetryWithoutEdns));
    assert!(matches!(
        step(Rcode::FORMERR, Some(Edns::new(512))),
        Step::NextServer(Error::Malformed(_))
    ));
    let badvers = Edns {
        ext_rcode: 1,
        ..Edns::new(512)
    };
    assert!(matches!(
        step(Rcode::NOERROR, Some(badvers)),
        Step::RetryWithoutEdns
    ));
    assert!(matches!(
        step(Rcode(9), None),
        Step::NextServer(Error::ServFail)
    ));
    // Without EDNS in the query, FORMERR just moves on.
    let plain = Message::query(1, &name("x"), RecordType::A, None);
    let mut r = reply_to(&plain, Rcode::FORMERR, vec![]);
    r.edns = None;
    assert!(matches!(
        classify(&plain, &r, Transport::Udp),
        Step::NextServer(_)
    ));
}

#[test]
fn follows_cname_chain_and_ignores_the_rest() {
    let q = query();
    let r = reply_to(
        &q,
        Rcode::NOERROR,
        vec![
            a("evil.example", 60, 66),
            cname("www.example", 50, "a.example"),
            a("www.example", 60, 67), // not at the chain's end: ignored
            cname("a.example", 40, "b.example"),
            a("b.example", 300, 1),
            Record {
                name: name("b.example"),
                ttl: 300,
                data: RData::AAAA("::1".parse().unwrap()),
            },
            a("B.EXAMPLE", 20, 2),
        ],
    );
    let got = extract_answer(&name("www.example"), RecordType::A, &r);
    // www.example has an A record of its own: data wins over its CNAME.
    assert_eq!(got.unwrap(), vec![a("www.example", 60, 67)]);

    let r = reply_to(
        &q,
        Rcode::NOERROR,
        vec![
            a("evil.example", 60, 66),
            cname("www.example", 50, "a.example"),
            cname("a.example", 40, "b.example"),
            a("b.example", 300, 1),
            a("B.EXAMPLE", 20, 2),
        ],
    );
    let got = extract_answer(&name("www.example"), RecordType::A, &r).unwrap();
    assert_eq!(got, vec![a("b.example", 40, 1), a("B.EXAMPLE", 20, 2)]);
    assert_eq!(
        canonical_name(&name("www.example"), RecordType::A, &r).unwrap(),
        name("b.example")
    );
    let cn = extract_answer(&name("www.example"), RecordType::CNAME, &r).unwrap();
    assert_eq!(cn, vec![cname("www.example", 50, "a.example")]);
    assert!(matches!(
        extract_answer(&name("www.example"), RecordType::AAAA, &r),
        Err(Error::NoData)
    ));
}

#[test]
fn cname_loops_and_long_chains() {
    let q = query();
    let looped = reply_to(
        &q,
        Rcode::NOERROR,
        vec![
            cname("www.example", 5, "x.example"),
            cname("x.example", 5, "www.example"),
        ],
    );
    let err = extract_answer(&name("www.example"), RecordType::A, &looped).unwrap_err();
    assert!(
        err.to_string().contains("CNAME chain at offset 0 loops"),
        "{err}"
    );

    let chain = |links: usize| {
        let mut answers: Vec<Record> = (0..links)
            .map(|i| cname(&format!("n{i}.example"), 5, &format!("n{}.example", i + 1)))
            .collect();
        answers.push(a(&format!("n{links}.example"), 5, 1));
        let r = reply_to(&q, Rcode::NOERROR, answers);
        extract_answer(&name("n0.example"), RecordType::A, &r)
    };
    assert_eq!(chain(MAX_CNAME_CHAIN).unwrap().len(), 1);
    assert!(chain(MAX_CNAME_CHAIN + 1)
        .unwrap_err()
        .to_string()
        .contains("longer than"));
}

#[test]
fn rcodes_become_errors() {
    let q = query();
    let r = |rc| reply_to(&q, rc, vec![a("www.example", 1, 1)]);
    let get = |rc| extract_answer(&name("www.example"), RecordType::A, &r(rc));
    assert!(matches!(get(Rcode::NXDOMAIN), Err(Error::NxDomain)));
    assert!(matches!(get(Rcode::SERVFAIL), Err(Error::ServFail)));
    assert!(matches!(get(Rcode::REFUSED), Err(Error::Refused)));
    assert!(get(Rcode::NOERROR).is_ok());
    let empty = reply_to(&q, Rcode::NOERROR, vec![]);
    assert!(matches!(
        extract_answer(&name("www.example"), RecordType::A, &empty),
        Err(Error::NoData)
    ));
}

#[test]
fn negative_ttl_from_soa() {
    let q = query();
    let mut r = reply_to(&q, Rcode::NXDOMAIN, vec![]);
    assert_eq!(
        negative_ttl(&name("www.example"), &r),
        None,
        "no SOA: do not cache"
    );
    r.authorities = vec![soa("example", 3600, 300)];
    assert_eq!(negative_ttl(&name("www.example"), &r), Some(300));
    r.authorities = vec![soa("example", 60, 300)];
    assert_eq!(negative_ttl(&name("www.example"), &r), Some(60));
    // An SOA for an unrelated zone is ignored.
    r.authorities = vec![soa("other", 60, 300)];
    assert_eq!(negative_ttl(&name("www.example"), &r), None);
    // With a chain the SOA is about the chain's end and the CNAME TTL bounds it.
    r.answers = vec![cname("www.example", 10, "x.elsewhere")];
    r.authorities = vec![soa("elsewhere", 600, 600)];
    assert_eq!(negative_ttl(&name("www.example"), &r), Some(10));
}

#[test]
fn attempt_plans() {
    let mut c = crate::Config::default();
    let s = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let plan = |c: &crate::Config, r| attempt_plan(c, r).collect::<Vec<_>>();
    c.nameservers = vec![s(1), s(2), s(3)];
    assert_eq!(plan(&c, 7), vec![s(1), s(2), s(3), s(1), s(2), s(3)]);
    c.rotate = true;
    assert_eq!(plan(&c, 7), vec![s(2), s(3), s(1), s(2), s(3), s(1)]);
    c.attempts = 1;
    assert_eq!(plan(&c, 2), vec![s(3), s(1), s(2)]);
    c.attempts = 0;
    assert_eq!(plan(&c, 0).len(), 3, "at least one round");
    // Lazy: u32::MAX rounds are walked only as far as asked.
    c.attempts = u32::MAX;
    assert_eq!(attempt_plan(&c, 0).take(7).count(), 7);
    c.nameservers.clear();
    assert!(attempt_plan(&c, 0).is_empty());
    assert_eq!(attempt_plan(&c, 0).next(), None);
    // The resolver's plan for one server walks as the general one does.
    for attempts in [0, 1, 2, 5, u32::MAX] {
        let one: Vec<_> = AttemptPlan::one(s(9), attempts).take(9).collect();
        let general: Vec<_> = AttemptPlan::new(vec![s(9)], attempts).take(9).collect();
        assert_eq!(one, general, "{attempts} attempts");
    }
}

#[test]
fn opcode_must_match() {
    let q = query();
    let mut m = reply_to(&q, Rcode::NOERROR, vec![a("www.example", 60, 1)]);
    m.header.opcode = 5; // UPDATE
    assert!(matches!(
        validate_reply(&q, &m.encode(), Transport::Udp),
        Err(Reject::OpcodeMismatch {
            expected: 0,
            got: 5
        })
    ));
}

#[test]
fn question_is_checked_before_the_rest_is_decoded() {
    let q = query();
    let mut m = reply_to(&q, Rcode::NOERROR, vec![a("www.example", 60, 1)]);
    m.questions[0].name = name("other.example");
    let mut bytes = m.encode();
    // A record count that promises far more than the message holds.
    bytes[7] = 0xff;
    assert!(matches!(
        validate_reply(&q, &bytes, Transport::Udp),
        Err(Reject::QuestionMismatch)
    ));
}

#[test]
fn ttls_with_the_top_bit_set_count_as_zero() {
    let q = query();
    let r = reply_to(
        &q,
        Rcode::NOERROR,
        vec![a("www.example", 0x8000_0000, 1), a("www.example", 70, 2)],
    );
    let got = extract_answer(&name("www.example"), RecordType::A, &r).unwrap();
    assert_eq!(got.iter().map(|r| r.ttl).collect::<Vec<_>>(), [0, 70]);
    let r = reply_to(
        &q,
        Rcode::NOERROR,
        vec![
            cname("www.example", u32::MAX, "b.example"),
            a("b.example", 70, 2),
        ],
    );
    let got = extract_answer(&name("www.example"), RecordType::A, &r).unwrap();
    assert_eq!(got[0].ttl, 0);
}

#[test]
fn type_numbers_match_named_types() {
    let q = Message::query(7, &name("www.example"), RecordType::Other(28), None);
    let mut r = q.clone();
    r.header.qr = true;
    r.answers = vec![Record {
        name: name("www.example"),
        ttl: 60,
        data: RData::AAAA("2001:db8::1".parse().unwrap()),
    }];
    // The reply decodes its question as AAAA; it still echoes ours.
    let got = validate_reply(&q, &r.encode(), Transport::Udp).unwrap();
    let records = extract_answer(&name("www.example"), RecordType::Other(28), &got).unwrap();
    assert_eq!(records.len(), 1);
}

/// `reply` with one COOKIE option of `data`.
fn with_cookie(mut reply: Message, data: &[u8]) -> Message {
    let mut options = 10u16.to_be_bytes().to_vec();
    options.extend_from_slice(&(data.len() as u16).to_be_bytes());
    options.extend_from_slice(data);
    reply.edns.get_or_insert_with(|| Edns::new(1232)).options = options;
    reply
}

#[test]
fn cookies_in_replies_are_checked() {
    let q = query();
    let client = [7u8; 8];
    let ok = reply_to(&q, Rcode::NOERROR, vec![]);
    // No cookie sent: whatever the reply has is not looked at.
    assert_eq!(
        check_cookie(None, &with_cookie(ok.clone(), &[1; 3])).unwrap(),
        None
    );
    // No cookie in the reply, or our option echoed bare: fine, nothing learned.
    assert_eq!(check_cookie(Some(&client), &ok).unwrap(), None);
    assert_eq!(
        check_cookie(Some(&client), &with_cookie(ok.clone(), &client)).unwrap(),
        None
    );
    // Our client cookie and a server cookie: the server cookie is learned.
    let mut full = client.to_vec();
    full.extend_from_slice(&[9; 16]);
    let r = with_cookie(ok.clone(), &full);
    assert_eq!(
        check_cookie(Some(&client), &r).unwrap(),
        Some(&[9u8; 16][..])
    );
    // Another client cookie: forged.
    full[0] ^= 1;
    let forged = with_cookie(ok.clone(), &full);
    assert!(matches!(
        check_cookie(Some(&client), &forged),
        Err(Reject::CookieMismatch)
    ));
    // Bad lengths.
    for len in [0, 7, 12, 15, 41] {
        let r = with_cookie(ok.clone(), &vec![7; len]);
        assert!(
            matches!(check_cookie(Some(&client), &r), Err(Reject::CookieMalformed { len: l }) if l == len),
            "length {len}"
        );
    }
    // BADCOOKIE (extended rcode 1, header rcode 7) needs a server cookie.
    let mut bad = reply_to(&q, Rcode(7), vec![]);
    bad.edns.as_mut().unwrap().ext_rcode = 1;
    assert_eq!(bad.rcode(), Rcode::BADCOOKIE);
    assert!(matches!(
        check_cookie(Some(&client), &with_cookie(bad.clone(), &client)),
        Err(Reject::BadCookieWithoutCookie)
    ));
    let mut full = client.to_vec();
    full.extend_from_slice(&[5; 8]);
    assert!(check_cookie(Some(&client), &with_cookie(bad, &full))
        .unwrap()
        .is_some());
}

#[test]
fn encode_with_option_appends_to_the_opt_record_only() {
    let q = query();
    let option = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let bytes = q.encode_with_option(&option);
    let decoded = Message::decode(&bytes).unwrap();
    assert_eq!(decoded.edns.as_ref().unwrap().options, option);
    assert_eq!(bytes.len(), q.encode().len() + option.len());
    // The buffer was sized up front: no growth on the way.
    assert_eq!(bytes.capacity(), bytes.len());
    // Without an OPT record there is nowhere to put it.
    let plain = Message::query(1, &name("www.example"), RecordType::A, None);
    assert_eq!(plain.encode_with_option(&option), plain.encode());
}

/// The resolver's wire-level reply check agrees with the decoding one on
/// replies damaged at random: bytes overwritten, letters recased, cut short.
#[test]
fn wire_question_check_agrees_with_decoding_on_damaged_replies() {
    let q = query();
    let mut bases = Vec::new();
    let answer = reply_to(
        &q,
        Rcode::NOERROR,
        vec![
            cname("www.example", 60, "web.example"),
            a("web.example", 30, 7),
        ],
    );
    bases.push(answer.encode());
    let mut nx = reply_to(&q, Rcode::NXDOMAIN, vec![]);
    nx.authorities = vec![soa("example", 300, 60)];
    bases.push(nx.encode());
    let mut tc = reply_to(&q, Rcode::NOERROR, vec![a("www.example", 60, 1)]);
    tc.header.tc = true;
    bases.push(tc.encode());
    let mut fail = reply_to(&q, Rcode::SERVFAIL, vec![]);
    fail.questions.clear();
    bases.push(fail.encode());
    let mut accepted = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..20_000u64 {
        let base = &bases[(round % bases.len() as u64) as usize];
        let mut bytes = base.clone();
        for _ in 0..=next() % 3 {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 4 {
                0 => bytes[at] = next() as u8,
                1 => bytes[at] ^= 0x20,
                2 => bytes.truncate(at),
                _ => {}
            }
            if bytes.is_empty() {
                break;
            }
        }
        if validate_reply(&q, &bytes, Transport::Udp).is_ok() {
            accepted += 1;
        }
    }
    // Both outcomes are exercised.
    assert!(accepted > 2_000 && accepted < 18_000, "{accepted}");
}

/// A question written as a compression pointer (into the header, the
/// only place it can point) that spells the name asked: the wire-level
/// check decodes it, as the decoding one does, instead of rejecting it.
#[test]
fn a_compressed_question_is_judged_alike() {
    let q = Message::query(0x1234, &name("x"), RecordType::A, None);
    // TC set; the counts at offset 6 spell `\x01x\x00`, the question is
    // the pointer C0 06, the later sections are cut short (forgiven: TC).
    let mut bytes = vec![0x12, 0x34, 0x82, 0x00, 0, 1, 0x01, 0x78, 0, 0, 0, 0];
    bytes.extend_from_slice(&[0xc0, 0x06, 0, 1, 0, 1]);
    let got = validate_reply(&q, &bytes, Transport::Udp);
    assert!(got.is_ok_and(|m| m.header.tc), "accepted as truncated");
}

/// The resolver encodes its queries without building a message: the same
/// bytes as `Message::query` encoded with the same option.
#[test]
fn queries_encode_alike_without_a_message() {
    let cookie = [10u8, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    for host in [
        "www.example",
        "a",
        "Mixed.Case.Example.ORG",
        &"x".repeat(63),
    ] {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::Other(65)] {
            for payload in [None, Some(512), Some(1232)] {
                for option in [&[][..], &cookie[..]] {
                    let n = name(host);
                    let message = Message::query(0x1234, &n, qtype, payload);
                    let want = message.encode_with_option(option);
                    let reused = vec![0xff; 700];
                    let edns = payload.map(|p| (p, option));
                    let got = crate::wire::encode_query(0x1234, &n, qtype, edns, reused);
                    assert_eq!(got, want, "{host} {qtype:?} {payload:?} {option:?}");
                }
            }
        }
    }
}
