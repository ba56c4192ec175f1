//! Happy Eyeballs v2 (`Resolver::connect`, `tern::dns::connect`) against
//! the scripted server and listeners on 127.0.0.1 and ::1.

mod scripted;

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use scripted::*;
use tern::dns::{IpFamily, RecordType, Resolver};
use tern::net::TcpListener;

fn dual_zone() -> Zone {
    Zone::new(vec![
        aaaa("dual.test.", "::1"),
        a("dual.test.", "127.0.0.1"),
        a("v4.test.", "127.0.0.1"),
        aaaa("v6.test.", "::1"),
    ])
}

/// Listeners on 127.0.0.1 and ::1 sharing one port.
fn listeners() -> (TcpListener, TcpListener, u16) {
    for _ in 0..100 {
        let v6 = TcpListener::bind("[::1]:0".parse().unwrap()).unwrap();
        let port = v6.local_addr().unwrap().port();
        if let Ok(v4) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            return (v4, v6, port);
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

/// A port on which nothing listens, on either family.
fn closed_port() -> u16 {
    let (v4, v6, port) = listeners();
    drop((v4, v6));
    port
}

#[tern::test]
async fn prefers_ipv6() {
    let server = Server::start(dual_zone().script());
    let (_v4, v6, port) = listeners();
    let r = Resolver::new(config(&[server.addr], 1000));
    let s = r.connect("dual.test", port).await.unwrap();
    assert!(s.peer_addr().unwrap().is_ipv6());
    let (_, from) = v6.accept().await.unwrap();
    assert_eq!(from, s.local_addr().unwrap());
}

#[tern::test]
async fn falls_back_to_ipv4_when_ipv6_is_refused() {
    let server = Server::start(dual_zone().script());
    let (v4, v6, port) = listeners();
    drop(v6);
    let r = Resolver::new(config(&[server.addr], 1000));
    let s = r.connect("dual.test", port).await.unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    v4.accept().await.unwrap();
}

#[tern::test]
async fn slow_aaaa_does_not_hold_up_ipv4() {
    let zone = dual_zone();
    let script: Script = Rc::new(move |q, _| {
        let mut v = Vec::new();
        if q.questions[0].qtype == RecordType::AAAA {
            v.push(Action::Delay(Duration::from_millis(500)));
        }
        v.push(Action::Reply(zone.answer(q)));
        v
    });
    let server = Server::start(script);
    let (_v4, _v6, port) = listeners();
    let r = Resolver::new(config(&[server.addr], 2000));
    let s = r.connect("dual.test", port).await.unwrap();
    // A answered first; after the 50 ms resolution delay, IPv4 is tried
    // and the loopback connect completes long before AAAA's 500 ms.
    assert!(s.peer_addr().unwrap().is_ipv4());
}

#[tern::test]
async fn single_family_names() {
    let server = Server::start(dual_zone().script());
    let (_v4, _v6, port) = listeners();
    let r = Resolver::new(config(&[server.addr], 1000));
    assert!(r
        .connect("v4.test", port)
        .await
        .unwrap()
        .peer_addr()
        .unwrap()
        .is_ipv4());
    assert!(r
        .connect("v6.test", port)
        .await
        .unwrap()
        .peer_addr()
        .unwrap()
        .is_ipv6());
}

#[tern::test]
async fn all_refused_is_connection_refused() {
    let server = Server::start(dual_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let err = r.connect("dual.test", closed_port()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[tern::test]
async fn unknown_name_is_not_found() {
    let server = Server::start(dual_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let err = r.connect("missing.test", 80).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("no such domain"), "{err}");
    let err = r.connect("bad..name", 80).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[tern::test]
async fn literals_and_localhost_connect_without_dns() {
    let (_v4, _v6, port) = listeners();
    let s = tern::dns::connect("127.0.0.1", port).await.unwrap();
    assert!(s.peer_addr().unwrap().is_ipv4());
    let s = tern::dns::connect("::1", port).await.unwrap();
    assert!(s.peer_addr().unwrap().is_ipv6());
    let r = Resolver::new(config(&["127.0.0.1:9".parse().unwrap()], 1000));
    let s = r.connect("localhost", port).await.unwrap();
    assert!(
        s.peer_addr().unwrap().is_ipv6(),
        "IPv6 first for localhost too"
    );
}

#[tern::test]
async fn dropping_connect_midway_leaks_nothing() {
    let zone = dual_zone();
    let script: Script = Rc::new(move |q, _| {
        vec![
            Action::Delay(Duration::from_millis(1)),
            Action::Reply(zone.answer(q)),
        ]
    });
    let server = Server::start(script);
    let (_v4, _v6, port) = listeners();
    let baseline = tern::current_metrics().unwrap().io_sources;
    for stop_after in 1..20u32 {
        let r = Resolver::new(config(&[server.addr], 1000));
        let mut fut = Box::pin(async move { r.connect("dual.test", port).await });
        let mut polls = 0;
        let done = std::future::poll_fn(|cx| {
            polls += 1;
            match std::future::Future::poll(fut.as_mut(), cx) {
                std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
                std::task::Poll::Pending if polls >= stop_after => std::task::Poll::Ready(None),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
        drop(fut);
        let finished = done.is_some();
        drop(done);
        // Connections the listeners have queued but not accepted are not
        // registered sources; only the resolver's would be (its idle UDP
        // sockets, kept for reuse, are closed first).
        tern::dns::close_idle_sockets();
        assert_eq!(
            tern::current_metrics().unwrap().io_sources,
            baseline,
            "after {stop_after} polls"
        );
        if finished {
            return;
        }
    }
    panic!("connect never completed");
}

/// Issue 15, defect 1: with `search a.test b.test`, `db.a.test` has only A
/// and `db.b.test` only AAAA. `lookup_ip("db")` settles on `db.a.test`;
/// `connect` must reach the same name, not `db.b.test` over IPv6.
#[tern::test]
async fn connect_settles_one_search_candidate_for_both_families() {
    let zone = Zone::new(vec![
        a("db.a.test.", "127.0.0.1"),
        aaaa("db.b.test.", "::1"),
    ]);
    let server = Server::start(zone.script());
    let (v4, _v6, port) = listeners();
    let mut c = config(&[server.addr], 1000);
    c.search = vec!["a.test".into(), "b.test".into()];
    let r = Resolver::new(c);
    let s = r.connect("db", port).await.unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    v4.accept().await.unwrap();
    assert_eq!(
        r.lookup_ip("db").await.unwrap(),
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    // db.b.test was never asked: the first candidate had data.
    assert!(server
        .seen()
        .iter()
        .all(|s| s.question.name != name("db.b.test.")));
}

/// A candidate with no data in either family moves connect on to the next.
#[tern::test]
async fn connect_walks_the_search_list_past_empty_candidates() {
    let zone = Zone::new(vec![a("x.b.test.", "127.0.0.1")]);
    let server = Server::start(zone.script());
    let (_v4, _v6, port) = listeners();
    let mut c = config(&[server.addr], 1000);
    c.search = vec!["a.test".into(), "b.test".into()];
    let r = Resolver::new(c);
    let s = r.connect("x", port).await.unwrap();
    assert!(s.peer_addr().unwrap().is_ipv4());
}

/// Issue 15, defect 10: the io::Error of connect names the host.
#[tern::test]
async fn connect_errors_name_the_host() {
    let server = Server::start(dual_zone().script());
    let r = Resolver::new(config(&[server.addr], 1000));
    let err = r.connect("missing.test", 80).await.unwrap_err();
    assert!(err.to_string().contains("missing.test"), "{err}");
    let err = r.connect("dual.test", closed_port()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(err.to_string().contains("dual.test"), "{err}");
}

/// Scoped IPv6 literals are addresses, never names sent to the DNS.
#[tern::test]
async fn scoped_ipv6_literals_connect_without_dns() {
    let server = Server::start(dual_zone().script());
    let (_v4, _v6, port) = listeners();
    let r = Resolver::new(config(&[server.addr], 1000));
    // Scope 0 on ::1 is allowed.
    let s = r.connect("::1%0", port).await.unwrap();
    assert!(s.peer_addr().unwrap().is_ipv6());
    let err = r.connect("fe80::1%eth0", port).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(server.seen().len(), 0);
}

// ===== `Config::ip_family` for names answered without DNS =====

/// With `ip_family = V4Only` (`options no-aaaa`), `lookup_ip("localhost")`
/// gives 127.0.0.1 only; `connect("localhost")` must not go to ::1 (it
/// did: IPv6 first, whatever the family setting). And the reverse for
/// V6Only.
#[tern::test]
async fn localhost_connect_keeps_to_the_configured_family() {
    let (v4, v6, port) = listeners();
    let mut c = config(&["127.0.0.1:9".parse().unwrap()], 1000);
    c.ip_family = IpFamily::V4Only;
    let r = Resolver::new(c.clone());
    assert_eq!(
        r.lookup_ip("localhost").await.unwrap(),
        ["127.0.0.1".parse::<IpAddr>().unwrap()]
    );
    let s = r.connect("localhost", port).await.unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    v4.accept().await.unwrap();

    // V6Only with ::1 refusing: no fallback to 127.0.0.1.
    drop(v6);
    c.ip_family = IpFamily::V6Only;
    let r = Resolver::new(c);
    assert_eq!(
        r.lookup_ip("localhost").await.unwrap(),
        ["::1".parse::<IpAddr>().unwrap()]
    );
    let err = r.connect("localhost", port).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

/// A hosts entry of the other family only: `lookup_ip` goes on to the DNS
/// (as glibc does), and so must `connect`, not connect to the hosts entry.
#[tern::test]
async fn hosts_entries_of_the_other_family_do_not_answer_connect() {
    let dir = std::env::temp_dir().join(format!("tern-cacherev-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "::1 pinned.test\n").unwrap();
    let (v4, _v6, port) = listeners();
    let server = Server::start(Zone::new(vec![a("pinned.test.", "127.0.0.1")]).script());
    let mut c = config(&[server.addr], 1000);
    c.use_hosts = true;
    c.hosts_file = hosts;
    c.ip_family = IpFamily::V4Only;
    let r = Resolver::new(c);
    assert_eq!(
        r.lookup_ip("pinned.test").await.unwrap(),
        ["127.0.0.1".parse::<IpAddr>().unwrap()]
    );
    let s = r.connect("pinned.test", port).await.unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    v4.accept().await.unwrap();
    assert!(server
        .seen()
        .iter()
        .all(|s| s.question.qtype == RecordType::A));
    std::fs::remove_dir_all(&dir).unwrap();
}
