//! UdpSocket edge cases: partial batch sends, address-family mismatches,
//! datagram sizes, truncation, connect/disconnect semantics, string
//! addresses and fresh ports. Loopback only.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::SocketAddr;

use tern::net::{RecvMeta, UdpSocket};

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tern::test]
async fn send_batch_to_stops_at_a_bad_third_datagram_and_the_retry_reports_it() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    let bad: SocketAddr = "[::1]:9".parse().unwrap();
    let msgs = [
        IoSlice::new(b"1"),
        IoSlice::new(b"2"),
        IoSlice::new(b"3"),
        IoSlice::new(b"4"),
    ];
    let targets = [to, to, bad, to];
    let sent = tx.send_batch_to(&msgs, &targets).await.unwrap();
    assert_eq!(sent, 2);
    let e = tx
        .send_batch_to(&msgs[sent..], &targets[sent..])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("[::1]:9"), "{e}");
    let mut buf = [0u8; 4];
    for want in [b"1", b"2"] {
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], want);
    }
}

#[tern::test]
async fn send_to_a_v6_address_from_a_v4_socket_names_the_address() {
    let tx = UdpSocket::bind(v4()).unwrap();
    let bad: SocketAddr = "[::1]:9".parse().unwrap();
    let e = tx.send_to(b"x", bad).await.unwrap_err();
    assert!(e.to_string().contains("[::1]:9"), "{e}");
    // The kind stays the OS's (EAFNOSUPPORT has no stable kind of its own).
    assert_eq!(
        e.kind(),
        std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT).kind()
    );
    let e = std::future::poll_fn(|cx| tx.poll_send_to(cx, b"x", bad))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("[::1]:9"), "{e}");
    let e = tx.send_batch(&[IoSlice::new(b"x")]).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EDESTADDRREQ), "{e}");
}

#[tern::test]
async fn empty_and_largest_datagrams() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    rx.set_recv_buffer_size(1 << 20).unwrap();
    let to = rx.local_addr().unwrap();
    assert_eq!(tx.send_to(b"", to).await.unwrap(), 0);
    let big = vec![7u8; 65_507];
    assert_eq!(tx.send_to(&big, to).await.unwrap(), 65_507);
    let e = tx.send_to(&vec![0u8; 65_508], to).await.unwrap_err();
    assert!(e.to_string().contains(&to.to_string()), "{e}");
    assert_eq!(
        e.kind(),
        std::io::Error::from_raw_os_error(libc::EMSGSIZE).kind()
    );
    let mut buf = vec![0u8; 70_000];
    let (n, from) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!((n, from), (0, tx.local_addr().unwrap()));
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(n, 65_507);
    assert!(buf[..n].iter().all(|&b| b == 7));
}

#[tern::test]
async fn truncation_on_recv_from_peek_from_and_recv_batch() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    for _ in 0..3 {
        tx.send_to(b"0123456789", to).await.unwrap();
    }
    let mut small = [0u8; 4];
    let (n, _) = rx.peek_from(&mut small).await.unwrap();
    assert_eq!((n, &small), (4, b"0123"));
    let (n, _) = rx.recv_from(&mut small).await.unwrap();
    assert_eq!((n, &small), (4, b"0123"));
    let (n, _) = rx.recv_from(&mut small).await.unwrap();
    assert_eq!((n, &small), (4, b"0123"));
    let mut st = [[0u8; 4]; 2];
    let mut meta = [RecvMeta::default(); 2];
    let mut bufs: Vec<IoSliceMut<'_>> = st.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    let got = rx.recv_batch(&mut bufs, &mut meta).await.unwrap();
    assert_eq!(got, 1);
    assert!(meta[0].truncated, "{:?}", meta[0]);
    assert_eq!(meta[0].len, 4);
}

#[tern::test]
async fn connect_then_send_to_another_address_is_what_linux_does() {
    let a = UdpSocket::bind(v4()).unwrap();
    let b = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    tx.connect(a.local_addr().unwrap()).unwrap();
    // Linux lets a connected UDP socket send_to another address.
    tx.send_to(b"to-b", b.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        (&buf[..n], from),
        (b"to-b".as_slice(), tx.local_addr().unwrap())
    );
    assert_eq!(tx.disconnect().unwrap(), 0);
    assert_eq!(tx.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    // EDESTADDRREQ (89 on Linux): std has no stable ErrorKind for it.
    let e = tx.send(b"x").await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(89), "{e}");
}

#[tern::test]
async fn string_addresses_and_garbage() {
    let s = UdpSocket::bind_str("127.0.0.1:0").unwrap();
    let t = UdpSocket::bind_str("[::1]:0").unwrap();
    assert!(t.local_addr().unwrap().is_ipv6());
    for bad in ["garbage", "127.0.0.1", "localhost:53"] {
        let e = s.connect_str(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains(bad), "{e}");
        let e = UdpSocket::bind_str(bad).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    let e = s.connect_str("[::1]:53").unwrap_err();
    assert!(e.to_string().contains("[::1]:53"), "{e}");
}

#[tern::test]
async fn unbound_release_port_picks_fresh_ports_under_rapid_reuse() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    let tx = UdpSocket::unbound(to).unwrap();
    let mut ports = std::collections::HashSet::new();
    let mut buf = [0u8; 8];
    for i in 0..200u32 {
        tx.send_to(&i.to_be_bytes(), to).await.unwrap();
        let (n, from) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &i.to_be_bytes());
        assert_eq!(from.port(), tx.local_addr().unwrap().port());
        ports.insert(from.port());
        tx.release_port().unwrap();
    }
    assert!(ports.len() > 150, "{}", ports.len());
}

#[tern::test]
async fn options_read_back() {
    let s = UdpSocket::bind(v4()).unwrap();
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_ttl(77).unwrap();
    assert_eq!(s.ttl().unwrap(), 77);
    s.set_multicast_loop_v4(false).unwrap();
    assert!(!s.multicast_loop_v4().unwrap());
    s.set_multicast_ttl_v4(9).unwrap();
    assert_eq!(s.multicast_ttl_v4().unwrap(), 9);
    let e = s.set_ttl(300).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("TTL"), "{e}");
    let e = s.set_multicast_ttl_v4(u32::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("IP_MULTICAST_TTL"), "{e}");
    s.set_recv_buffer_size(100_000).unwrap();
    s.set_recv_buffer_size(usize::MAX).unwrap();
    let t = UdpSocket::bind_str("[::1]:0").unwrap();
    t.set_ttl(33).unwrap();
    assert_eq!(t.ttl().unwrap(), 33);
    t.set_multicast_loop_v6(false).unwrap();
    assert!(!t.multicast_loop_v6().unwrap());
}

#[tern::test]
async fn disconnect_of_a_port_0_bind_releases_the_port_and_its_new_owner_receives() {
    let peer = UdpSocket::bind(v4()).unwrap();
    let a = UdpSocket::bind(v4()).unwrap();
    let p = a.local_addr().unwrap();
    a.connect(peer.local_addr().unwrap()).unwrap();
    a.disconnect().unwrap();
    // Linux keeps only a port bound by number: one the kernel picked for
    // `bind` with port 0 goes as well (see `UdpSocket::disconnect`).
    assert_eq!(a.local_addr().unwrap(), "127.0.0.1:0".parse().unwrap());
    let b = match UdpSocket::bind(p) {
        Ok(b) => b,
        Err(e) => panic!("port kept after disconnect: {e}"),
    };
    let c = UdpSocket::bind(v4()).unwrap();
    c.send_to(b"hi", p).await.unwrap();
    let mut buf = [0u8; 4];
    let got = tern::time::timeout(std::time::Duration::from_secs(5), b.recv_from(&mut buf)).await;
    let (n, _) = got.expect("new owner of the port never woke").unwrap();
    assert_eq!(&buf[..n], b"hi");
}

#[tern::test]
async fn recv_one_now_reports_sender_length_and_truncation() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = tx.local_addr().unwrap();
    let mut buf = [0u8; 4];
    let e = rx.recv_one_now(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    tx.send_to(b"abcdefgh", to).unwrap();
    tx.send_to(b"xy", to).unwrap();
    let m = rx.recv_one_now(&mut buf).unwrap();
    assert_eq!((m.len, m.addr, m.truncated), (4, from, true));
    assert_eq!(&buf, b"abcd");
    let m = rx.recv_one_now(&mut buf).unwrap();
    assert_eq!((m.len, m.addr, m.truncated), (2, from, false));
    assert_eq!(&buf[..2], b"xy");
    let e = rx.recv_one_now(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
}

/// `release_port_idle` marks the socket not readable without reading what
/// is queued: the queued datagrams stay (the one held ahead goes), and a
/// datagram that arrives later, on the new port, wakes a waiting reader,
/// which meets the older ones first. The peer is a std socket, so the
/// wake-up is the kernel's edge, not a hint of the runtime's.
#[tern::test]
async fn release_port_idle_keeps_the_queue_and_a_later_datagram_wakes_the_reader() {
    use std::future::poll_fn;
    use std::rc::Rc;
    use std::task::Poll;
    use std::time::Duration;

    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let to = peer.local_addr().unwrap();
    let sock = Rc::new(UdpSocket::unbound(to).unwrap());
    let mut buf = [0u8; 8];
    sock.send_to(b"q1", to).await.unwrap();
    let (_, first) = peer.recv_from(&mut buf).unwrap();
    for old in [&b"old1"[..], b"old2", b"old3"] {
        peer.send_to(old, first).unwrap();
    }
    // old1 is read; old2 comes with it and is held ahead.
    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"old1");
    sock.release_port_idle().unwrap();
    let readable = poll_fn(|cx| Poll::Ready(sock.poll_recv_ready(cx).is_ready())).await;
    assert!(!readable, "marked not readable");
    sock.send_to(b"q2", to).await.unwrap();
    let (_, second) = peer.recv_from(&mut buf).unwrap();
    assert_ne!(first.port(), second.port(), "a new port");
    let reader = tern::spawn({
        let sock = sock.clone();
        async move {
            let mut got = Vec::new();
            let mut b = [0u8; 8];
            for _ in 0..2 {
                let (n, _) = sock.recv_from(&mut b).await.unwrap();
                got.push(b[..n].to_vec());
            }
            got
        }
    });
    // The reader runs and waits.
    tern::yield_now().await;
    assert!(!reader.is_finished(), "nothing new has come yet");
    peer.send_to(b"new", second).unwrap();
    let got = tern::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the new datagram wakes the reader")
        .unwrap();
    assert_eq!(got, [b"old3".to_vec(), b"new".to_vec()]);
}

/// An ICMP error makes the socket ready to read (the receive reports the
/// error). Once `recv_one_now` has reported it and then found the queue
/// empty, the socket is not ready any more, as after a `recv_from` that
/// meets `WouldBlock`: a caller looping on `poll_recv_ready` and
/// `recv_one_now` would otherwise spin on `WouldBlock` until a datagram
/// comes.
#[tern::test]
async fn recv_one_now_that_finds_the_queue_empty_after_an_error_clears_the_error_readiness() {
    use std::future::poll_fn;
    use std::task::Poll;
    use std::time::Duration;

    // A port nobody listens on.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let sock = UdpSocket::bind(v4()).unwrap();
    sock.set_recv_errors(true).unwrap();
    sock.send_to(b"q", closed).await.unwrap();
    // The runtime sees the error's edge.
    tern::time::timeout(
        Duration::from_secs(5),
        poll_fn(|cx| sock.poll_recv_ready(cx)),
    )
    .await
    .expect("the ICMP error makes the socket ready")
    .unwrap();
    let mut buf = [0u8; 16];
    let e = sock.recv_one_now(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    let e = sock.recv_one_now(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    let ready = poll_fn(|cx| Poll::Ready(sock.poll_recv_ready(cx).is_ready())).await;
    assert!(
        !ready,
        "ready to read after WouldBlock: an error already reported"
    );
}
