//! Which address families `lookup_ip` and `connect` ask for, and how:
//! the AAAA blackhole grace period, `Config::ip_family`, and the
//! resolv.conf options `no-aaaa`, `single-request`, `use-vc`.

mod scripted;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use scripted::*;
use tern::dns::exchange::Transport;
use tern::dns::{Config, IpFamily, RecordType, Resolver};
use tern::net::TcpListener;

fn dual() -> Zone {
    Zone::new(vec![
        a("dual.test.", "127.0.0.1"),
        aaaa("dual.test.", "::1"),
    ])
}

fn types(server: &Server) -> Vec<RecordType> {
    server.seen().iter().map(|s| s.question.qtype).collect()
}

/// A server that drops AAAA queries: `lookup_ip` returns the A answer
/// after the grace period, well within one timeout, and never retries the
/// AAAA query.
#[tern::test]
async fn aaaa_blackhole_costs_only_the_grace_period() {
    let server = Server::start(dual().script_dropping_aaaa());
    let c = config(&[server.addr], 2000);
    let timeout = c.timeout;
    let r = Resolver::new(c);
    let start = Instant::now();
    let got = r.lookup_ip("dual.test").await.unwrap();
    assert_eq!(got, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert!(start.elapsed() < timeout, "waited {:?}", start.elapsed());
    let aaaa = types(&server)
        .iter()
        .filter(|t| **t == RecordType::AAAA)
        .count();
    assert_eq!(aaaa, 1, "the AAAA query was not retried");
}

#[tern::test]
async fn ip_family_limits_the_queries() {
    let server = Server::start(dual().script());
    let mut c = config(&[server.addr], 1000);
    c.ip_family = IpFamily::V4Only;
    let r = Resolver::new(c.clone());
    assert_eq!(
        r.lookup_ip("dual.test").await.unwrap(),
        ["127.0.0.1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(r.lookup_ip("localhost").await.unwrap().len(), 1);
    assert_eq!(types(&server), [RecordType::A]);
    c.ip_family = IpFamily::V6Only;
    let r = Resolver::new(c);
    assert_eq!(
        r.lookup_ip("dual.test").await.unwrap(),
        ["::1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(types(&server), [RecordType::A, RecordType::AAAA]);
}

/// `options no-aaaa` from resolv.conf, through `connect`: IPv4 only, and
/// no AAAA query leaves.
#[tern::test]
async fn no_aaaa_option_reaches_connect() {
    let server = Server::start(dual().script());
    let parsed = Config::parse_resolv_conf("options no-aaaa\n").unwrap();
    assert_eq!(parsed.ip_family, IpFamily::V4Only);
    let mut c = config(&[server.addr], 1000);
    c.ip_family = parsed.ip_family;
    let r = Resolver::new(c);
    let v4 = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = v4.local_addr().unwrap().port();
    let s = r.connect("dual.test", port).await.unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    assert_eq!(types(&server), [RecordType::A]);
}

/// `single-request`: AAAA leaves only once A is done. The first A query is
/// dropped, so with both in flight the log would read A, AAAA, A.
#[tern::test]
async fn single_request_asks_a_then_aaaa() {
    let zone = dual();
    let arrivals = Rc::new(RefCell::new(Vec::new()));
    let log = arrivals.clone();
    let script: Script = Rc::new(move |q, _| {
        let qtype = q.questions[0].qtype;
        log.borrow_mut().push(qtype);
        let first_a = qtype == RecordType::A && log.borrow().len() == 1;
        if first_a {
            vec![]
        } else {
            vec![Action::Reply(zone.answer(q))]
        }
    });
    let server = Server::start(script);
    let mut c = config(&[server.addr], 50);
    c.single_request = true;
    let r = Resolver::new(c.clone());
    assert_eq!(r.lookup_ip("dual.test").await.unwrap().len(), 2);
    assert_eq!(
        *arrivals.borrow(),
        [RecordType::A, RecordType::A, RecordType::AAAA]
    );
    // connect follows the same rule.
    arrivals.borrow_mut().clear();
    let r = Resolver::new(c);
    let v4 = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = v4.local_addr().unwrap().port();
    r.connect("dual.test", port).await.unwrap();
    assert_eq!(arrivals.borrow()[..2], [RecordType::A, RecordType::A]);
}

/// `use-vc`: every query goes over TCP.
#[tern::test]
async fn use_vc_asks_over_tcp_only() {
    let server = Server::start(dual().script());
    let parsed = Config::parse_resolv_conf("options use-vc\n").unwrap();
    let mut c = config(&[server.addr], 1000);
    c.use_vc = parsed.use_vc;
    let r = Resolver::new(c);
    assert_eq!(r.lookup_ip("dual.test").await.unwrap().len(), 2);
    assert_eq!(server.count(Transport::Tcp), 2);
    assert_eq!(server.count(Transport::Udp), 0);
}
