//! DNS cookies (RFC 7873): the client cookie each UDP query carries, the
//! server cookie sent back, forged and malformed COOKIE options dropped,
//! BADCOOKIE retried (at once, then over TCP), and `Config::cookies`.

mod scripted;

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use scripted::*;
use tern::dns::exchange::Transport;
use tern::dns::wire::{Edns, Message, Rcode};
use tern::dns::{Config, RecordType, Resolver};

/// The COOKIE option code.
const COOKIE: u16 = 10;

fn zone() -> Zone {
    Zone::new(
        (0..8)
            .map(|i| a(&format!("h{i}.test."), &format!("192.0.2.{}", i + 1)))
            .collect(),
    )
}

/// The data of the COOKIE option in `m`, if it has one (walked here, not
/// with the crate's own parser).
fn cookie_of(m: &Message) -> Option<Vec<u8>> {
    let mut rest = &m.edns.as_ref()?.options[..];
    while rest.len() >= 4 {
        let code = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let data = rest.get(4..4 + len)?;
        if code == COOKIE {
            return Some(data.to_vec());
        }
        rest = &rest[4 + len..];
    }
    None
}

/// `m` with one COOKIE option holding `data` (and EDNS, if it had none).
fn with_cookie(mut m: Message, data: &[u8]) -> Message {
    let mut options = COOKIE.to_be_bytes().to_vec();
    options.extend_from_slice(&(data.len() as u16).to_be_bytes());
    options.extend_from_slice(data);
    m.edns.get_or_insert_with(|| Edns::new(1232)).options = options;
    m
}

/// The client cookie of query `q` followed by `server`.
fn echo(q: &Message, server: &[u8]) -> Vec<u8> {
    let mut data = cookie_of(q).expect("query carries a cookie")[..8].to_vec();
    data.extend_from_slice(server);
    data
}

/// Each query's transport and COOKIE option, as a server saw them.
type Log = Rc<RefCell<Vec<(Transport, Option<Vec<u8>>)>>>;

/// A server that does cookies: answers from `zone` with our client cookie
/// and `server_cookie`, and logs what each query carried.
fn cookie_server(zone: Zone, server_cookie: Vec<u8>) -> (Server, Log) {
    let log = Log::default();
    let seen = log.clone();
    let script: Script = Rc::new(move |q, transport| {
        seen.borrow_mut().push((transport, cookie_of(q)));
        vec![Action::Reply(with_cookie(
            zone.answer(q),
            &echo(q, &server_cookie),
        ))]
    });
    (Server::start(script), log)
}

fn cookies(log: &Log) -> Vec<Vec<u8>> {
    log.borrow()
        .iter()
        .map(|(_, c)| c.clone().expect("every query carries a cookie"))
        .collect()
}

fn one_addr(ips: Vec<IpAddr>) -> String {
    assert_eq!(ips.len(), 1, "{ips:?}");
    ips[0].to_string()
}

fn no_cache(mut c: Config) -> Config {
    c.cache_size = 0;
    c
}

/// Every UDP query carries an 8-byte client cookie; each server gets the
/// same one on every query, and two servers get different ones.
#[tern::test]
async fn client_cookie_is_kept_per_server_and_differs_between_servers() {
    let (s1, log1) = cookie_server(zone(), vec![0x11; 8]);
    let (s2, log2) = cookie_server(zone(), vec![0x22; 8]);
    let mut c = no_cache(config(&[s1.addr, s2.addr], 1000));
    c.rotate = true; // queries alternate between the two servers
    let r = Resolver::new(c);
    for i in 0..6 {
        r.lookup(&format!("h{i}.test"), RecordType::A)
            .await
            .unwrap();
    }
    let (c1, c2) = (cookies(&log1), cookies(&log2));
    assert_eq!((c1.len(), c2.len()), (3, 3));
    let client = |c: &Vec<u8>| c[..8].to_vec();
    for log in [&c1, &c2] {
        assert!(log.iter().all(|c| client(c) == client(&log[0])), "{log:?}");
        assert_ne!(client(&log[0]), [0; 8], "never unfilled bytes");
    }
    assert_ne!(
        client(&c1[0]),
        client(&c2[0]),
        "servers get different client cookies"
    );
}

/// The server cookie from a reply goes back to that server in the next
/// query, after our client cookie.
#[tern::test]
async fn server_cookie_is_echoed_on_the_next_query() {
    let (server, log) = cookie_server(zone(), vec![0x5a; 16]);
    let r = Resolver::new(no_cache(config(&[server.addr], 1000)));
    r.lookup("h1.test", RecordType::A).await.unwrap();
    r.lookup("h2.test", RecordType::A).await.unwrap();
    let sent = cookies(&log);
    assert_eq!(sent[0].len(), 8, "no server cookie known yet");
    assert_eq!(sent[1][..8], sent[0][..], "same client cookie");
    assert_eq!(sent[1][8..], [0x5a; 16], "server cookie echoed");
}

/// A reply from the right address with the right ID and question but
/// another client cookie is a forgery: dropped, and the real reply that
/// follows is taken. The forger's server cookie is not kept.
#[tern::test]
async fn forged_client_cookie_is_ignored() {
    let zone = zone();
    let log = Log::default();
    let seen = log.clone();
    let script: Script = Rc::new(move |q, transport| {
        seen.borrow_mut().push((transport, cookie_of(q)));
        let mut forged_cookie = echo(q, &[0x66; 16]);
        forged_cookie[0] ^= 0xff;
        let mut forged = zone.answer(q);
        forged.answers = vec![a(&q.questions[0].name.to_string(), "198.51.100.66")];
        vec![
            Action::Reply(with_cookie(forged, &forged_cookie)),
            Action::Delay(Duration::from_millis(20)),
            Action::Reply(with_cookie(zone.answer(q), &echo(q, &[0x5a; 16]))),
        ]
    });
    let server = Server::start(script);
    let r = Resolver::new(no_cache(config(&[server.addr], 2000)));
    let got = r.lookup_ip("h1.test").await.unwrap();
    assert_eq!(one_addr(got), "192.0.2.2");
    r.lookup("h2.test", RecordType::A).await.unwrap();
    // The last query (h2, asked after A and AAAA of h1 were answered).
    let sent = cookies(&log);
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[2][8..],
        [0x5a; 16],
        "the real server cookie, not the forger's"
    );
}

/// COOKIE options of lengths RFC 7873 does not allow are dropped like a
/// wrong ID (the wait goes on), not taken as the answer and not a failure.
#[tern::test]
async fn malformed_cookie_option_is_ignored() {
    let zone = zone();
    let bad_len = Rc::new(std::cell::Cell::new(0usize));
    let len = bad_len.clone();
    let script: Script = Rc::new(move |q, _| {
        let mut junk = zone.answer(q);
        junk.answers = vec![a(&q.questions[0].name.to_string(), "198.51.100.66")];
        // Starts with our client cookie, so only the length is wrong.
        let mut data = echo(q, &[0x77; 40]);
        data.truncate(len.get());
        vec![
            Action::Reply(with_cookie(junk, &data)),
            Action::Delay(Duration::from_millis(20)),
            Action::Reply(zone.answer(q)),
        ]
    });
    let server = Server::start(script);
    let r = Resolver::new(no_cache(config(&[server.addr], 2000)));
    for (i, len) in [0, 7, 9, 15, 41, 48].into_iter().enumerate() {
        bad_len.set(len);
        let got = r.lookup_ip(&format!("h{i}.test")).await;
        let got = got.unwrap_or_else(|e| panic!("length {len}: {e}"));
        assert_eq!(one_addr(got), format!("192.0.2.{}", i + 1), "length {len}");
    }
}

/// `reply` turned into BADCOOKIE (extended rcode 23: 1 in OPT, 7 in the
/// header) carrying our client cookie and `server_cookie`.
fn bad_cookie(q: &Message, server_cookie: &[u8]) -> Message {
    let mut m = with_cookie(rcode_reply(q, Rcode(7)), &echo(q, server_cookie));
    m.edns.as_mut().unwrap().ext_rcode = 1;
    assert_eq!(m.rcode(), Rcode(23));
    m
}

/// BADCOOKIE with a new server cookie: asked again at once with that
/// cookie, and answered, all over UDP.
#[tern::test]
async fn bad_cookie_is_retried_with_the_new_server_cookie() {
    let zone = zone();
    let log = Log::default();
    let seen = log.clone();
    let script: Script = Rc::new(move |q, transport| {
        seen.borrow_mut().push((transport, cookie_of(q)));
        let fresh = [0x42; 8];
        if transport == Transport::Tcp {
            return vec![Action::Reply(zone.answer(q))];
        }
        if cookie_of(q).is_some_and(|c| c[8..] == fresh) {
            vec![Action::Reply(with_cookie(zone.answer(q), &echo(q, &fresh)))]
        } else {
            vec![Action::Reply(bad_cookie(q, &fresh))]
        }
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 2000));
    let got = r.lookup_ip("h1.test").await.unwrap();
    assert_eq!(one_addr(got), "192.0.2.2");
    let sent = log.borrow().clone();
    // A then AAAA each: BADCOOKIE, then the retry (or, for the second
    // family, the learned cookie at once if A had learned it first).
    assert!(sent.iter().all(|(t, _)| *t == Transport::Udp), "{sent:?}");
    assert_eq!(server.count(Transport::Tcp), 0);
    let with_fresh = sent
        .iter()
        .filter(|(_, c)| c.as_ref().is_some_and(|c| c[8..] == [0x42; 8]))
        .count();
    assert_eq!(
        with_fresh, 2,
        "A and AAAA asked with the new cookie: {sent:?}"
    );
    assert!(sent.len() <= 4, "one retry per query at most: {sent:?}");
}

/// BADCOOKIE to the retry too: the query goes over TCP, without a cookie.
#[tern::test]
async fn bad_cookie_twice_goes_to_tcp() {
    let zone = zone();
    let log = Log::default();
    let seen = log.clone();
    let udp_sent = Rc::new(std::cell::Cell::new(0u8));
    let script: Script = Rc::new(move |q, transport| {
        seen.borrow_mut().push((transport, cookie_of(q)));
        if transport == Transport::Tcp {
            return vec![Action::Reply(zone.answer(q))];
        }
        udp_sent.set(udp_sent.get() + 1);
        vec![Action::Reply(bad_cookie(q, &[udp_sent.get(); 8]))]
    });
    let server = Server::start(script);
    let r = Resolver::new(config(&[server.addr], 2000));
    let got = r.lookup("h1.test", RecordType::A).await.unwrap();
    assert_eq!(got.len(), 1);
    let sent = log.borrow().clone();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0].0, Transport::Udp);
    assert_eq!(sent[1].0, Transport::Udp);
    assert_eq!(
        sent[1].1.as_ref().map(|c| c[8..].to_vec()),
        Some(vec![1; 8]),
        "the retry carries the cookie of the first BADCOOKIE"
    );
    assert_eq!(sent[2], (Transport::Tcp, None), "TCP carries no cookie");
}

/// A plain server that logs what each query carried.
fn logging_server() -> (Server, Log) {
    let log = Log::default();
    let seen = log.clone();
    let zone = zone();
    let script: Script = Rc::new(move |q, transport| {
        seen.borrow_mut().push((transport, cookie_of(q)));
        vec![Action::Reply(zone.answer(q))]
    });
    (Server::start(script), log)
}

/// `Config::cookies = false`: EDNS queries go without a COOKIE option.
#[tern::test]
async fn cookies_off_sends_none() {
    let (server, log) = logging_server();
    let mut c = no_cache(config(&[server.addr], 1000));
    c.cookies = false;
    let r = Resolver::new(c);
    r.lookup_ip("h1.test").await.unwrap();
    r.lookup("h2.test", RecordType::A).await.unwrap();
    assert!(server.seen().iter().all(|s| s.edns), "EDNS stays on");
    let sent = log.borrow().clone();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|(_, c)| c.is_none()), "{sent:?}");
}

/// Without EDNS there is nowhere to put a cookie; with `use_vc`, TCP
/// carries none either.
#[tern::test]
async fn no_cookie_without_edns_or_over_tcp() {
    let (server, log) = logging_server();
    let mut c = config(&[server.addr], 1000);
    c.edns = false;
    Resolver::new(c.clone())
        .lookup("h1.test", RecordType::A)
        .await
        .unwrap();
    c.edns = true;
    c.use_vc = true;
    Resolver::new(c)
        .lookup("h2.test", RecordType::A)
        .await
        .unwrap();
    let sent = log.borrow().clone();
    assert_eq!(sent, [(Transport::Udp, None), (Transport::Tcp, None)]);
}
