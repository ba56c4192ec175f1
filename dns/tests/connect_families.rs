//! `Config::ip_family` through `connect` for names answered without DNS:
//! `localhost` and the hosts file give `connect` the same families that
//! `lookup_ip` gives (review finding, cacherev). Loopback only.

mod scripted;

use std::net::{IpAddr, SocketAddr};

use scripted::*;
use tern::dns::{IpFamily, RecordType, Resolver};
use tern::net::TcpListener;

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
