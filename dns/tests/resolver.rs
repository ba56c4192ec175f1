//! The resolver against the scripted server on 127.0.0.1: every rule of
//! DESIGN.md's "What a resolver does", and the lessons from other
//! resolvers' bugs.

#[path = "../../tests/common/budget_probe.rs"]
mod budget_probe;
mod scripted;

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use budget_probe::Probe;
use scripted::*;
use tern::dns::exchange::Transport;
use tern::dns::wire::{Message, Rcode};
use tern::dns::{Error, RData, RecordType, Resolver};

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn www_zone() -> Zone {
    Zone::new(vec![
        a("www.test.", "192.0.2.1"),
        a("www.test.", "192.0.2.2"),
        aaaa("www.test.", "2001:db8::1"),
        cname("alias.test.", "mid.test."),
        cname("mid.test.", "www.test."),
        a("v4only.test.", "192.0.2.9"),
    ])
}

#[tern::test]
async fn lookup_ip_returns_ipv4_then_ipv6_in_answer_order() {
    let server = Server::start(www_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let got = r.lookup_ip("www.test").await.unwrap();
    assert_eq!(got, ips(&["192.0.2.1", "192.0.2.2", "2001:db8::1"]));
    // A and AAAA were both asked, over UDP, with EDNS.
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.transport == Transport::Udp && s.edns));
    let types: Vec<_> = seen.iter().map(|s| s.question.qtype).collect();
    assert!(types.contains(&RecordType::A) && types.contains(&RecordType::AAAA));
}

#[tern::test]
async fn cname_chain_is_followed() {
    let server = Server::start(www_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(
        r.lookup_ip("alias.test").await.unwrap(),
        ips(&["192.0.2.1", "192.0.2.2", "2001:db8::1"])
    );
    let cn = r.lookup("alias.test", RecordType::CNAME).await.unwrap();
    assert_eq!(cn.len(), 1);
    assert_eq!(cn[0].data, RData::CNAME(name("mid.test.")));
}

#[tern::test]
async fn one_family_is_enough() {
    let server = Server::start(www_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(
        r.lookup_ip("v4only.test").await.unwrap(),
        ips(&["192.0.2.9"])
    );
    assert!(matches!(
        r.lookup("v4only.test", RecordType::AAAA).await,
        Err(Error::NoData)
    ));
}

#[tern::test]
async fn nxdomain_is_final_and_not_asked_elsewhere() {
    let first = Server::start(www_zone().script());
    let second = Server::start(www_zone().script());
    let r = Resolver::new(config(&[first.addr, second.addr], 1000));
    let err = r.lookup_ip("missing.test").await.unwrap_err();
    assert!(matches!(err, Error::NxDomain), "{err}");
    assert_eq!(second.seen().len(), 0);
}

fn rcode_script(rcode: Rcode) -> Script {
    Rc::new(move |q, _| vec![Action::Reply(rcode_reply(q, rcode))])
}

#[tern::test]
async fn servfail_and_refused_move_to_the_next_server() {
    for rcode in [Rcode::SERVFAIL, Rcode::REFUSED] {
        let bad = Server::start(rcode_script(rcode));
        let good = Server::start(www_zone().script());
        let r = Resolver::new(config(&[bad.addr, good.addr], 1000));
        assert_eq!(
            r.lookup_ip("v4only.test").await.unwrap(),
            ips(&["192.0.2.9"])
        );
        assert_eq!(bad.seen().len(), 2);
        assert_eq!(good.seen().len(), 2);
    }
}

#[tern::test]
async fn servfail_everywhere_is_servfail() {
    let bad = Server::start(rcode_script(Rcode::SERVFAIL));
    let r = Resolver::new(config(&[bad.addr], 1000));
    let err = r.lookup("www.test", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::ServFail), "{err}");
    // attempts (2) rounds over the one server.
    assert_eq!(bad.seen().len(), 2);
}

#[tern::test]
async fn timeout_then_next_server() {
    let silent = Server::start(Rc::new(|_, _| vec![]));
    let good = Server::start(www_zone().script());
    let r = Resolver::new(config(&[silent.addr, good.addr], 100));
    assert_eq!(
        r.lookup_ip("v4only.test").await.unwrap(),
        ips(&["192.0.2.9"])
    );
    assert_eq!(silent.seen().len(), 2);
}

#[tern::test]
async fn every_server_silent_gives_timeout_after_all_attempts() {
    let s1 = Server::start(Rc::new(|_, _| vec![]));
    let s2 = Server::start(Rc::new(|_, _| vec![]));
    let mut c = config(&[s1.addr, s2.addr], 50);
    c.attempts = 3;
    let r = Resolver::new(c);
    let err = r.lookup("www.test", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err}");
    assert_eq!(s1.seen().len(), 3);
    assert_eq!(s2.seen().len(), 3);
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

/// c-ares CVE-2023-32067 and hickory's give-up-after-stray-packets: empty
/// datagrams, junk, wrong IDs, wrong questions, other ports and non-replies
/// must not end the query; the real reply that follows is taken.
#[tern::test]
async fn forged_and_junk_replies_are_dropped_and_the_wait_goes_on() {
    let zone = www_zone();
    let script: Script = Rc::new(move |q, _| {
        let real = zone.answer(q);
        let mut wrong_id = real.clone();
        wrong_id.header.id ^= 0x5555;
        let mut wrong_q = real.clone();
        wrong_q.questions[0].name = name("evil.test.");
        let mut not_reply = real.clone();
        not_reply.header.qr = false;
        let mut poisoned = wrong_id.clone();
        poisoned.answers = vec![a("www.test.", "198.51.100.66")];
        let mut forged_port = real.clone();
        forged_port.answers = vec![a("www.test.", "198.51.100.77")];
        let mut vec = vec![
            Action::Raw(Vec::new()),
            Action::Raw(vec![0xde, 0xad, 0xbe, 0xef]),
            Action::Raw(real.encode()[..11].to_vec()),
        ];
        for m in [wrong_id, wrong_q, not_reply, poisoned] {
            vec.push(Action::Reply(m));
        }
        vec.push(Action::FromOtherPort(forged_port.encode()));
        for _ in 0..50 {
            vec.push(Action::Raw(vec![0xff; 40]));
        }
        vec.push(Action::Delay(Duration::from_millis(5)));
        vec.push(Action::Reply(real));
        vec
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 2000));
    assert_eq!(
        r.lookup_ip("www.test").await.unwrap(),
        ips(&["192.0.2.1", "192.0.2.2", "2001:db8::1"])
    );
    assert_eq!(server.seen().len(), 2, "no retry was needed");
}

#[tern::test]
async fn question_echo_is_case_insensitive() {
    let zone = www_zone();
    let script: Script = Rc::new(move |q, _| {
        let mut m = zone.answer(q);
        m.questions[0].name = name("WwW.TeSt.");
        vec![Action::Reply(m)]
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(r.lookup_ip("www.test").await.unwrap().len(), 3);
}

#[tern::test]
async fn truncated_reply_is_retried_over_tcp() {
    let zone = www_zone();
    let script: Script = Rc::new(move |q, t| {
        if t == Transport::Udp {
            let mut m = reply_to(q);
            m.header.tc = true;
            vec![Action::Reply(m)]
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(r.lookup_ip("www.test").await.unwrap().len(), 3);
    assert_eq!(server.count(Transport::Udp), 2);
    assert_eq!(server.count(Transport::Tcp), 2);
}

#[tern::test]
async fn formerr_to_edns_is_retried_without_edns() {
    let server = Server::start(www_zone().script_refusing_edns());
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(r.lookup("www.test", RecordType::A).await.unwrap().len(), 2);
    let seen = server.seen();
    assert_eq!(
        seen.iter().map(|s| s.edns).collect::<Vec<_>>(),
        [true, false]
    );
}

#[tern::test]
async fn edns_can_be_turned_off() {
    let server = Server::start(www_zone().script());
    let mut c = config(&[server.addr], 1000);
    c.edns = false;
    let r = Resolver::new(c);
    r.lookup("www.test", RecordType::A).await.unwrap();
    assert!(!server.seen()[0].edns);
}

#[tern::test]
async fn a_answers_while_aaaa_times_out() {
    let server = Server::start(www_zone().script_dropping_aaaa());
    let r = Resolver::new(config(&[server.addr], 50));
    assert_eq!(
        r.lookup_ip("www.test").await.unwrap(),
        ips(&["192.0.2.1", "192.0.2.2"])
    );
}

#[tern::test]
async fn answers_are_cached_with_ttl_and_negative_answers_by_soa() {
    let server = Server::start(www_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    r.lookup_ip("www.test").await.unwrap();
    let again = r.lookup("www.test", RecordType::A).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|rec| rec.ttl <= 300));
    assert!(r.lookup_ip("missing.test").await.is_err());
    assert!(matches!(
        r.lookup_ip("missing.test").await,
        Err(Error::NxDomain)
    ));
    // www: A + AAAA once; missing: A + AAAA once.
    assert_eq!(server.seen().len(), 4);
    r.clear_cache();
    r.lookup_ip("www.test").await.unwrap();
    assert_eq!(server.seen().len(), 6);
}

/// Lookups answered at once (here from the cache) spend the task's
/// cooperative budget: a loop of them lets another task run after 128, as
/// a loop of ready reads does. Without it the loop would hold the runtime
/// for all 1,000 (and a lookup whose reply is queued before it looks, on
/// a fast server, completes at once in the same way).
#[tern::test]
async fn lookups_answered_at_once_yield_after_the_budget() {
    let mut zone = www_zone();
    zone.records.push(rec(
        "1.2.0.192.in-addr.arpa.",
        300,
        RData::PTR(name("www.test.")),
    ));
    let server = Server::start(zone.script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    // Into the cache.
    r.lookup_ip("www.test").await.unwrap();
    r.reverse(ip).await.unwrap();
    for kind in ["lookup", "lookup_ip", "reverse", "resolve a literal"] {
        // After a wake-up the server's replies left behind is used up.
        let probe = Probe::start().await;
        for _ in 0..1_000 {
            match kind {
                "lookup" => assert_eq!(r.lookup("www.test", RecordType::A).await.unwrap().len(), 2),
                "lookup_ip" => assert_eq!(r.lookup_ip("www.test").await.unwrap().len(), 3),
                "reverse" => assert_eq!(r.reverse(ip).await.unwrap(), [name("www.test.")]),
                _ => assert_eq!(tern::dns::resolve("192.0.2.7").await.unwrap().len(), 1),
            }
            probe.tick();
        }
        assert_eq!(probe.ticks_before_it_ran().await, Some(128), "{kind}");
    }
    assert_eq!(
        server.seen().len(),
        3,
        "all but the first lookups from the cache"
    );
}

#[tern::test]
async fn cache_size_zero_asks_every_time() {
    let server = Server::start(www_zone().script());
    let mut c = config(&[server.addr], 1000);
    c.cache_size = 0;
    let r = Resolver::new(c);
    for _ in 0..3 {
        r.lookup("www.test", RecordType::A).await.unwrap();
    }
    assert_eq!(server.seen().len(), 3);
    assert_eq!(r.cache_len(), 0);
}

#[tern::test]
async fn records_outside_the_chain_are_ignored_and_not_cached() {
    let script: Script = Rc::new(|q, _| {
        let mut m = reply_to(q);
        m.answers = vec![
            a("evil.test.", "198.51.100.1"),
            cname("alias.test.", "www.test."),
            a("www.test.", "192.0.2.1"),
            a("other.test.", "198.51.100.2"),
        ];
        m.additionals = vec![a("bank.test.", "198.51.100.3")];
        vec![Action::Reply(m)]
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 1000));
    let got = r.lookup("alias.test", RecordType::A).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, RData::A("192.0.2.1".parse().unwrap()));
    assert_eq!(r.cache_len(), 1);
    // evil.test was never cached: asking for it goes to the server.
    let before = server.seen().len();
    let _ = r.lookup("evil.test", RecordType::A).await;
    assert_eq!(server.seen().len(), before + 1);
}

#[tern::test]
async fn answer_for_another_type_is_nodata() {
    let script: Script = Rc::new(|q, _| {
        let mut m = reply_to(q);
        m.answers = vec![aaaa(&q.questions[0].name.to_string(), "2001:db8::66")];
        vec![Action::Reply(m)]
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 1000));
    assert!(matches!(
        r.lookup("www.test", RecordType::A).await,
        Err(Error::NoData)
    ));
}

#[tern::test]
async fn search_list_and_ndots() {
    let zone = Zone::new(vec![
        a("www.corp.test.", "192.0.2.5"),
        a("www.", "192.0.2.6"),
    ]);
    let server = Server::start(zone.script());
    let mut c = config(&[server.addr], 1000);
    c.search = vec!["corp.test".into()];
    c.ndots = 1;
    let r = Resolver::new(c.clone());
    // No dot: the search list comes first.
    assert_eq!(r.lookup_ip("www").await.unwrap(), ips(&["192.0.2.5"]));
    assert_eq!(server.seen()[0].question.name, name("www.corp.test."));
    // Absolute names skip the search list.
    assert_eq!(r.lookup_ip("www.").await.unwrap(), ips(&["192.0.2.6"]));
    // Enough dots: as typed first, then the search list.
    let r = Resolver::new(c);
    let err = r.lookup_ip("nope.example").await.unwrap_err();
    assert!(matches!(err, Error::NxDomain));
    let asked: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.question.qtype == RecordType::A)
        .map(|s| s.question.name.to_string())
        .collect();
    assert_eq!(
        &asked[asked.len() - 2..],
        ["nope.example.", "nope.example.corp.test."]
    );
}

#[tern::test]
async fn hosts_file_first_then_dns() {
    let dir = std::env::temp_dir().join(format!("tern-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        "# test hosts\n192.0.2.50 pinned.test pinned\n2001:db8::50 pinned.test\n192.0.2.51 other.test\n",
    )
    .unwrap();
    let server = Server::start(www_zone().script());
    let mut c = config(&[server.addr], 1000);
    c.use_hosts = true;
    c.hosts_file = hosts.clone();
    let r = Resolver::new(c);
    assert_eq!(
        r.lookup_ip("PINNED.test").await.unwrap(),
        ips(&["192.0.2.50", "2001:db8::50"])
    );
    assert_eq!(
        r.reverse("192.0.2.51".parse().unwrap()).await.unwrap(),
        [name("other.test.")]
    );
    assert_eq!(server.seen().len(), 0, "the hosts file answered");
    assert_eq!(r.lookup_ip("www.test").await.unwrap().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tern::test]
async fn literals_localhost_and_invalid_names_need_no_network() {
    let server = Server::start(www_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(r.lookup_ip("192.0.2.7").await.unwrap(), ips(&["192.0.2.7"]));
    assert_eq!(r.lookup_ip("::1").await.unwrap(), ips(&["::1"]));
    assert_eq!(
        r.lookup_ip("localhost").await.unwrap(),
        ips(&["127.0.0.1", "::1"])
    );
    let long_label = "a".repeat(64);
    let long_name = "abcdefghi.".repeat(26);
    for bad in [
        "",
        "a..b",
        "..",
        long_label.as_str(),
        long_name.as_str(),
        "bad name",
        "ünï.test",
    ] {
        let err = r.lookup_ip(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidName(_)), "{bad:?}: {err}");
    }
    assert_eq!(server.seen().len(), 0);
    assert_eq!(
        tern::dns::resolve("192.0.2.8").await.unwrap(),
        ips(&["192.0.2.8"])
    );
    assert_eq!(tern::dns::resolve("localhost").await.unwrap().len(), 2);
}

#[tern::test]
async fn reverse_lookup_over_dns() {
    let zone = Zone::new(vec![
        rec(
            "9.2.0.192.in-addr.arpa.",
            300,
            RData::PTR(name("host.test.")),
        ),
        rec(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            300,
            RData::PTR(name("six.test.")),
        ),
    ]);
    let server = Server::start(zone.script());
    let r = Resolver::new(config(&[server.addr], 1000));
    assert_eq!(
        r.reverse("192.0.2.9".parse().unwrap()).await.unwrap(),
        [name("host.test.")]
    );
    assert_eq!(
        r.reverse("2001:db8::1".parse().unwrap()).await.unwrap(),
        [name("six.test.")]
    );
}

#[tern::test]
async fn lookup_of_every_record_type() {
    let zone = Zone::new(vec![
        rec(
            "mail.test.",
            300,
            RData::MX {
                preference: 10,
                exchange: name("mx.test."),
            },
        ),
        rec(
            "mail.test.",
            300,
            RData::TXT(vec![b"v=spf1 -all".to_vec(), b"two".to_vec()]),
        ),
        rec(
            "_sip._udp.test.",
            300,
            RData::SRV {
                priority: 1,
                weight: 2,
                port: 5060,
                target: name("sip.test."),
            },
        ),
        rec("test.", 300, RData::NS(name("ns.test."))),
        soa("test.", 60),
        rec(
            "odd.test.",
            300,
            RData::Other {
                rtype: 99,
                data: vec![1, 2, 3],
            },
        ),
    ]);
    let server = Server::start(zone.script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let mx = r.lookup("mail.test", RecordType::MX).await.unwrap();
    assert_eq!(
        mx[0].data,
        RData::MX {
            preference: 10,
            exchange: name("mx.test.")
        }
    );
    let txt = r.lookup("mail.test", RecordType::TXT).await.unwrap();
    assert_eq!(
        txt[0].data,
        RData::TXT(vec![b"v=spf1 -all".to_vec(), b"two".to_vec()])
    );
    let srv = r.lookup("_sip._udp.test", RecordType::SRV).await.unwrap();
    assert_eq!(
        srv[0].data,
        RData::SRV {
            priority: 1,
            weight: 2,
            port: 5060,
            target: name("sip.test.")
        }
    );
    let ns = r.lookup("test.", RecordType::NS).await.unwrap();
    assert_eq!(ns[0].data, RData::NS(name("ns.test.")));
    let soa = r.lookup("test.", RecordType::SOA).await.unwrap();
    assert!(matches!(soa[0].data, RData::SOA { minimum: 60, .. }));
    let other = r.lookup("odd.test", RecordType::Other(99)).await.unwrap();
    assert_eq!(
        other[0].data,
        RData::Other {
            rtype: 99,
            data: vec![1, 2, 3]
        }
    );
}

#[tern::test]
async fn rotate_spreads_queries_over_servers() {
    let s1 = Server::start(www_zone().script());
    let s2 = Server::start(www_zone().script());
    let mut c = config(&[s1.addr, s2.addr], 1000);
    c.rotate = true;
    c.cache_size = 0;
    let r = Resolver::new(c);
    for _ in 0..10 {
        r.lookup("www.test", RecordType::A).await.unwrap();
    }
    assert_eq!(s1.seen().len(), 5);
    assert_eq!(s2.seen().len(), 5);
}

#[tern::test]
async fn each_attempt_uses_a_fresh_id_and_port() {
    let ids = Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen_ids = ids.clone();
    let script: Script = Rc::new(move |q, _| {
        seen_ids.borrow_mut().push(q.header.id);
        vec![]
    });
    let server = Server::start(script);
    let mut c = config(&[server.addr], 20);
    c.attempts = 4;
    let r = Resolver::new(c);
    assert!(matches!(
        r.lookup("www.test", RecordType::A).await,
        Err(Error::Timeout)
    ));
    let ids = ids.borrow();
    assert_eq!(ids.len(), 4);
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert!(distinct.len() >= 3, "ids not fresh: {ids:?}");
}

/// glibc CVE-2015-7547: A and AAAA in flight together, replies of 2047,
/// 2048, 2049 and 65535 bytes over TCP, AAAA answered first, one of them
/// truncated over UDP and retried over TCP. Every byte must arrive.
#[tern::test]
async fn big_replies_over_tcp_with_aaaa_first() {
    for (a_size, aaaa_size) in [(2047usize, 2048usize), (2049, 65535), (65535, 2049)] {
        let script: Script = Rc::new(move |q, t| {
            let qtype = q.questions[0].qtype;
            let size = if qtype == RecordType::A {
                a_size
            } else {
                aaaa_size
            };
            // Over UDP, A is always truncated (and answered after AAAA);
            // AAAA is truncated only if it cannot fit in a datagram.
            if t == Transport::Udp && (qtype == RecordType::A || size > 4096) {
                let mut m = reply_to(q);
                m.header.tc = true;
                let delay = if qtype == RecordType::A { 10 } else { 0 };
                return vec![
                    Action::Delay(Duration::from_millis(delay)),
                    Action::Reply(m),
                ];
            }
            vec![Action::Reply(padded_answer(q, size))]
        });
        let server = Server::start(script);
        let r = Resolver::new(config(&[server.addr], 2000));
        let got = r.lookup_ip("big.test").await.unwrap();
        let v4 = got.iter().filter(|ip| ip.is_ipv4()).count();
        let v6 = got.iter().filter(|ip| ip.is_ipv6()).count();
        assert_eq!((v4, v6), (8, 8), "sizes {a_size}/{aaaa_size}");
        let expected_tcp = if aaaa_size > 4096 { 2 } else { 1 };
        assert_eq!(server.count(Transport::Tcp), expected_tcp);
    }
}

/// A reply to `q` with 8 records of its type plus an additional record
/// padding the encoded message to exactly `size` bytes.
fn padded_answer(q: &Message, size: usize) -> Message {
    let owner = q.questions[0].name.to_string();
    let mut m = reply_to(q);
    m.edns = None;
    for i in 0..8u8 {
        m.answers.push(match q.questions[0].qtype {
            RecordType::A => a(&owner, &format!("192.0.2.{i}")),
            _ => aaaa(&owner, &format!("2001:db8::{i}")),
        });
    }
    m.additionals.push(rec(
        "pad.test.",
        1,
        RData::Other {
            rtype: 65280,
            data: Vec::new(),
        },
    ));
    let base = m.encode().len();
    assert!(size >= base);
    m.additionals[0].data = RData::Other {
        rtype: 65280,
        data: vec![0x42; size - base],
    };
    assert_eq!(m.encode().len(), size);
    m
}

#[tern::test]
async fn dropping_a_lookup_at_any_point_leaks_nothing() {
    let zone = www_zone();
    let script: Script = Rc::new(move |q, t| {
        let mut v = vec![Action::Delay(Duration::from_millis(2))];
        if t == Transport::Udp && q.questions[0].qtype == RecordType::A {
            let mut m = reply_to(q);
            m.header.tc = true;
            v.push(Action::Reply(m));
        } else {
            v.push(Action::Reply(zone.answer(q)));
        }
        v
    });
    let server = Server::start(script);
    let baseline = tern::current_metrics().unwrap().io_sources;
    let polls = Rc::new(Cell::new(0u32));
    let mut completed = false;
    for stop_after in 1..200u32 {
        let r = Resolver::new(config(&[server.addr], 1000));
        let p = polls.clone();
        let mut fut = Box::pin(async move { r.lookup_ip("www.test").await });
        p.set(0);
        let done = std::future::poll_fn(|cx| {
            p.set(p.get() + 1);
            match fut.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
                std::task::Poll::Pending if p.get() >= stop_after => std::task::Poll::Ready(None),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
        drop(fut);
        // Only the server's sockets remain registered: its UDP socket and
        // listener (the baseline) and the TCP connections it still holds
        // (the resolver's idle UDP sockets, kept for reuse, closed first).
        tern::dns::close_idle_sockets();
        assert_eq!(
            tern::current_metrics().unwrap().io_sources,
            baseline + server.tcp_open(),
            "after {stop_after} polls"
        );
        if let Some(res) = done {
            assert_eq!(res.unwrap().len(), 3);
            completed = true;
            break;
        }
    }
    assert!(completed, "the lookup never completed");
    drop(server);
    // The server's listener, UDP socket and connections are closed with
    // its tasks; nothing of the resolver's is left. (Open fds are counted
    // per process, and the other tests of this file, running in parallel,
    // keep idle resolver sockets in their threads' pools while they run:
    // the exact fd count is checked by the serial tests of
    // reliability.rs.)
    // The server's tasks end over a few passes (a source dropped wakes the
    // tasks parked on it, which then see it gone).
    for _ in 0..16 {
        if tern::current_metrics().unwrap().io_sources == baseline - 2 {
            break;
        }
        tern::yield_now().await;
    }
    assert_eq!(tern::current_metrics().unwrap().io_sources, baseline - 2);
}

use std::future::Future;

/// Issue 17: an empty server list is `NoNameservers`, not an I/O error.
#[tern::test]
async fn no_nameservers_is_its_own_error() {
    let r = Resolver::new(config(&[], 100));
    let err = r.lookup("www.test", RecordType::A).await.unwrap_err();
    assert!(matches!(err, Error::NoNameservers), "{err:?}");
    assert_eq!(err.to_string(), "no name servers configured");
}

/// 0x20 (opt-in): query names go out in random case, the zone's echo is
/// taken; a reply whose question differs in case fails the attempt.
#[tern::test]
async fn case_randomization_requires_an_exact_echo() {
    let server = Server::start(www_zone().script());
    let mut c = config(&[server.addr], 1000);
    c.case_randomization = true;
    c.cache_size = 0;
    let r = Resolver::new(c.clone());
    for _ in 0..8 {
        assert_eq!(r.lookup("www.test", RecordType::A).await.unwrap().len(), 2);
    }
    let spellings: std::collections::HashSet<String> = server
        .seen()
        .iter()
        .map(|s| format!("{:?}", s.question.name.as_wire()))
        .collect();
    assert!(spellings.len() > 1, "the case varies: {spellings:?}");

    // A server (or forger) that answers in lower case.
    let zone = www_zone();
    let lower = Server::start(Rc::new(move |q, _| {
        let mut m = zone.answer(q);
        m.questions[0].name = name(&q.questions[0].name.to_string().to_ascii_lowercase());
        vec![Action::Reply(m)]
    }));
    c.nameservers = vec![lower.addr];
    // One attempt per lookup: each then succeeds only if all seven letters
    // came out lower case (1 in 128), so six failures of eight are all
    // but certain (a flake about once in 40,000 runs).
    c.attempts = 1;
    let r = Resolver::new(c.clone());
    let mut failed = 0;
    for _ in 0..8 {
        match r.lookup("www.test", RecordType::A).await {
            Err(Error::Malformed(e)) => {
                assert_eq!(e.problem(), tern::dns::Problem::CaseMismatch);
                failed += 1;
            }
            // All seven letters came out lower case.
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(failed >= 6, "{failed} of 8 lookups failed");
    c.case_randomization = false;
    let r = Resolver::new(c);
    assert_eq!(r.lookup("www.test", RecordType::A).await.unwrap().len(), 2);
}

/// The resolver's timers follow the runtime's clock: with it paused, the
/// whole retry schedule of a silent server (2 attempts of 5 s for each
/// family) runs in no real time and ends exactly when it should.
#[tern::test(start_paused = true)]
async fn retry_schedule_runs_on_the_paused_clock() {
    let server = Server::start(Rc::new(|_q: &Message, _t| Vec::new()));
    let mut cfg = config(&[server.addr], 5_000);
    cfg.attempts = 2;
    let resolver = Resolver::new(cfg);
    let start = tern::time::now();
    let err = resolver.lookup_ip("silent.test").await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(tern::time::now() - start, Duration::from_secs(10));
    assert_eq!(server.seen().len(), 4, "two attempts for each family");
}
