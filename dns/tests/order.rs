//! The order of `lookup_ip`'s addresses: answer order, IPv4 then IPv6, by
//! default; RFC 6724 order (as glibc's `getaddrinfo`) with
//! `Config::sort_rfc6724`. The sources are real: the kernel's for
//! loopback destinations (a UDP connect, which sends nothing).

mod scripted;

use std::net::{IpAddr, SocketAddr, UdpSocket};

use scripted::*;
use tern::dns::Resolver;

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// Whether ::1 can be reached here (some containers have no IPv6).
fn has_ipv6_loopback() -> bool {
    let reachable = UdpSocket::bind("[::1]:0")
        .and_then(|s| s.connect(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 53))))
        .is_ok();
    if !reachable {
        println!("notice: ::1 is not configured here, so it sorts last as unreachable");
    }
    reachable
}

/// What RFC 6724 makes of 127.0.0.1, 127.0.0.2 and ::1: ::1 first
/// (precedence 50 over IPv4's 35, both scopes and labels matching their
/// sources), the IPv4 pair in answer order (rule 10); ::1 last if it is
/// unreachable (rule 1).
fn expected_sorted() -> Vec<IpAddr> {
    if has_ipv6_loopback() {
        ips(&["::1", "127.0.0.1", "127.0.0.2"])
    } else {
        ips(&["127.0.0.1", "127.0.0.2", "::1"])
    }
}

#[tern::test]
async fn rfc6724_order_is_opt_in() {
    let zone = Zone::new(vec![
        a("dual.test.", "127.0.0.1"),
        a("dual.test.", "127.0.0.2"),
        aaaa("dual.test.", "::1"),
    ]);
    let server = Server::start(zone.script());
    let mut c = config(&[server.addr], 1000);
    assert!(!c.sort_rfc6724, "off by default");
    let got = Resolver::new(c.clone())
        .lookup_ip("dual.test")
        .await
        .unwrap();
    assert_eq!(got, ips(&["127.0.0.1", "127.0.0.2", "::1"]), "answer order");
    c.sort_rfc6724 = true;
    let got = Resolver::new(c).lookup_ip("dual.test").await.unwrap();
    assert_eq!(got, expected_sorted());
}

/// Addresses from the hosts file are sorted too, as glibc sorts every
/// `getaddrinfo` result.
#[tern::test]
async fn rfc6724_order_applies_to_the_hosts_file() {
    let dir = std::env::temp_dir().join(format!("tern-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 box.test\n127.0.0.2 box.test\n::1 box.test\n",
    )
    .unwrap();
    let mut c = config(&[], 1000);
    c.use_hosts = true;
    c.hosts_file = hosts;
    c.sort_rfc6724 = true;
    let got = Resolver::new(c).lookup_ip("box.test").await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got.unwrap(), expected_sorted());
}
