//! `UdpSocket::disconnect`: the association goes, the autobound port is
//! released (the next `connect` picks another), and the datagrams queued
//! from the old peer are dropped, so none of them reaches the next receive.

use std::net::SocketAddr;
use std::time::Duration;

use tern::net::UdpSocket;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tern::test]
async fn disconnect_drops_what_is_queued_and_reconnect_moves_the_port() {
    let peer = UdpSocket::bind(loopback()).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let sock = UdpSocket::connected(peer_addr).unwrap();
    let mut ports = Vec::new();
    for round in 0..8u8 {
        let local = sock.local_addr().unwrap();
        ports.push(local.port());
        // Three stale datagrams queued from the peer, then read one of
        // them so the reactor has seen the socket readable.
        for i in 0..3u8 {
            peer.send_to(&[round, i], local).await.unwrap();
        }
        let mut buf = [0u8; 8];
        assert_eq!(sock.recv(&mut buf).await.unwrap(), 2);
        assert_eq!(sock.disconnect().unwrap(), 2, "round {round}");
        sock.connect(peer_addr).unwrap();
        // The next receive sees only the new datagram.
        let new_local = sock.local_addr().unwrap();
        peer.send_to(b"fresh", new_local).await.unwrap();
        let n = tern::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .expect("the fresh datagram never came")
            .unwrap();
        assert_eq!(
            &buf[..n],
            b"fresh",
            "round {round}: a stale datagram came through"
        );
    }
    // Random ephemeral ports: eight in a row repeat by chance only rarely.
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 7, "the port did not move: {ports:?}");
}

#[tern::test]
async fn a_port_bound_by_number_is_kept() {
    let peer = UdpSocket::bind(loopback()).unwrap();
    // A free port, then bound by number (binding port 0 lets the kernel
    // pick, and a picked port is released like an autobound one).
    let port = std::net::UdpSocket::bind(loopback())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    sock.connect(peer.local_addr().unwrap()).unwrap();
    assert_eq!(sock.disconnect().unwrap(), 0);
    assert_eq!(sock.local_addr().unwrap().port(), port);
    assert!(sock.peer_addr().is_err(), "still connected");
}
