//! UdpSocket beyond send and receive: peeking, socket options, multicast
//! membership, batched receive and send (recvmmsg/sendmmsg), and string
//! addresses. Loopback only.

use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tern::net::{RecvMeta, UdpSocket};

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

#[tern::test]
async fn peek_from_leaves_the_datagram_queued() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    let (raddr, taddr) = (rx.local_addr().unwrap(), tx.local_addr().unwrap());
    tx.send_to(b"first", raddr).await.unwrap();
    tx.send_to(b"second!", raddr).await.unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let (n, from) = rx.peek_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"first"[..], taddr));
    }
    // A short peek cuts the copy, not the queued datagram.
    let mut head = [0u8; 2];
    let (n, _) = poll_fn(|cx| rx.poll_peek_from(cx, &mut head))
        .await
        .unwrap();
    assert_eq!(&head[..n], b"fi");
    let (n, from) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"first"[..], taddr));
    let (n, _) = rx.peek_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"second!");
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"second!");
}

#[tern::test]
async fn broadcast_and_ttl_read_back() {
    let s = UdpSocket::bind(v4()).unwrap();
    assert!(!s.broadcast().unwrap());
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_broadcast(false).unwrap();
    assert!(!s.broadcast().unwrap());
    for any in [v4(), v6()] {
        let s = UdpSocket::bind(any).unwrap();
        s.set_ttl(42).unwrap();
        assert_eq!(s.ttl().unwrap(), 42, "{any}");
        s.set_ttl(7).unwrap();
        assert_eq!(s.ttl().unwrap(), 7, "{any}");
    }
    let e = s.set_ttl(u32::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("TTL"), "{e}");
}

#[tern::test]
async fn buffer_sizes_are_what_the_kernel_granted() {
    let s = UdpSocket::bind(v4()).unwrap();
    // Linux doubles the request for bookkeeping (and has a floor well below
    // these sizes), so the granted size lies in [asked, 2 * asked].
    for size in [8192usize, 32768] {
        s.set_recv_buffer_size(size).unwrap();
        let got = s.recv_buffer_size().unwrap();
        assert!((size..=2 * size).contains(&got), "asked {size}, got {got}");
        s.set_send_buffer_size(size).unwrap();
        let got = s.send_buffer_size().unwrap();
        assert!((size..=2 * size).contains(&got), "asked {size}, got {got}");
    }
}

#[tern::test]
async fn multicast_v4_join_leave_and_loop_on_loopback() {
    let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let group = Ipv4Addr::new(239, 255, 77, 1);
    let lo = Ipv4Addr::LOCALHOST;
    s.join_multicast_v4(group, lo).unwrap();
    // Joining twice is refused by the kernel: the first join took effect.
    let e = s.join_multicast_v4(group, lo).unwrap_err();
    assert!(e.to_string().contains("239.255.77.1"), "{e}");
    s.leave_multicast_v4(group, lo).unwrap();
    // Leaving a group no longer joined fails and names it.
    let e = s.leave_multicast_v4(group, lo).unwrap_err();
    assert!(
        e.to_string().contains("leave multicast group 239.255.77.1"),
        "{e}"
    );
    // A unicast address is no group.
    assert!(s.join_multicast_v4(Ipv4Addr::new(10, 0, 0, 1), lo).is_err());

    assert!(s.multicast_loop_v4().unwrap());
    s.set_multicast_loop_v4(false).unwrap();
    assert!(!s.multicast_loop_v4().unwrap());
    s.set_multicast_loop_v4(true).unwrap();
    assert!(s.multicast_loop_v4().unwrap());
    s.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(s.multicast_ttl_v4().unwrap(), 3);
}

#[tern::test]
async fn multicast_v6_join_leave_and_loop_on_loopback() {
    let s = UdpSocket::bind("[::]:0".parse().unwrap()).unwrap();
    let group: Ipv6Addr = "ff02::1:77".parse().unwrap();
    let lo = 1; // the loopback interface's index on Linux
    s.join_multicast_v6(&group, lo).unwrap();
    let e = s.join_multicast_v6(&group, lo).unwrap_err();
    assert!(e.to_string().contains("ff02::1:77"), "{e}");
    s.leave_multicast_v6(&group, lo).unwrap();
    let e = s.leave_multicast_v6(&group, lo).unwrap_err();
    assert!(
        e.to_string().contains("leave multicast group ff02::1:77"),
        "{e}"
    );

    assert!(s.multicast_loop_v6().unwrap());
    s.set_multicast_loop_v6(false).unwrap();
    assert!(!s.multicast_loop_v6().unwrap());
}

/// Datagram `i` of the burst: `i + 1` bytes of `i`, except one long one.
fn burst_datagram(i: usize) -> Vec<u8> {
    let len = if i == 5 { 100 } else { i + 1 };
    vec![i as u8; len]
}

#[tern::test]
async fn recv_batch_takes_a_burst_with_lengths_peers_and_truncation() {
    const N: usize = 12;
    const BUF: usize = 64;
    let rx = UdpSocket::bind(v4()).unwrap();
    let raddr = rx.local_addr().unwrap();
    // Two senders, alternating, so the peers must come back per datagram.
    let senders = [
        std::net::UdpSocket::bind(v4()).unwrap(),
        std::net::UdpSocket::bind(v4()).unwrap(),
    ];
    for i in 0..N {
        senders[i % 2].send_to(&burst_datagram(i), raddr).unwrap();
    }
    let peers: Vec<SocketAddr> = senders.iter().map(|s| s.local_addr().unwrap()).collect();

    let mut storage = vec![[0u8; BUF]; N + 4];
    let mut meta = vec![RecvMeta::default(); N + 4];
    let mut next = 0;
    let mut calls = 0;
    while next < N {
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = rx.recv_batch(&mut bufs, &mut meta).await.unwrap();
        drop(bufs);
        calls += 1;
        assert!(n >= 1 && next + n <= N, "call {calls} took {n}");
        for k in 0..n {
            let (i, m) = (next + k, meta[k]);
            let want = burst_datagram(i);
            assert_eq!(m.addr, peers[i % 2], "datagram {i}");
            assert_eq!(m.truncated, want.len() > BUF, "datagram {i}");
            assert_eq!(m.len, want.len().min(BUF), "datagram {i}");
            assert_eq!(&storage[k][..m.len], &want[..m.len], "datagram {i}");
        }
        next += n;
    }
    // The burst was queued before the first call (loopback sends complete
    // inside sendto), so one call took all of it, or nearly.
    assert!(calls <= 2, "{calls} calls for {N} queued datagrams");
}

#[tern::test]
async fn recv_batch_waits_for_the_first_datagram_and_not_for_more() {
    let rx = std::rc::Rc::new(UdpSocket::bind(v4()).unwrap());
    let raddr = rx.local_addr().unwrap();
    let r = rx.clone();
    let receiver = tern::spawn(async move {
        let mut storage = [[0u8; 8]; 4];
        let mut meta = [RecvMeta::default(); 4];
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = poll_fn(|cx| r.poll_recv_batch(cx, &mut bufs, &mut meta))
            .await
            .unwrap();
        (n, meta[0].len)
    });
    tern::yield_now().await; // the receiver is now waiting
    assert!(!receiver.is_finished());
    let tx = UdpSocket::bind(v4()).unwrap();
    tx.send_to(b"abc", raddr).await.unwrap();
    assert_eq!(receiver.await.unwrap(), (1, 3));
    // Empty batches return at once.
    assert_eq!(rx.recv_batch(&mut [], &mut []).await.unwrap(), 0);
}

#[tern::test]
async fn send_batch_to_sends_each_datagram_to_its_target() {
    let a = UdpSocket::bind(v4()).unwrap();
    let b = UdpSocket::bind(v4()).unwrap();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let tx = UdpSocket::bind(v4()).unwrap();
    let msgs = [b"a1".as_slice(), b"b1", b"a2", b"b2-long"];
    let bufs: Vec<IoSlice<'_>> = msgs.iter().map(|m| IoSlice::new(m)).collect();
    let targets = [aa, ba, aa, ba];
    assert_eq!(tx.send_batch_to(&bufs, &targets).await.unwrap(), 4);
    let mut buf = [0u8; 16];
    for (sock, want) in [(&a, [b"a1".as_slice(), b"a2"]), (&b, [b"b1", b"b2-long"])] {
        for w in want {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (w, tx.local_addr().unwrap()));
        }
    }
    // Fewer targets than buffers: only as many as there are targets.
    let n = poll_fn(|cx| tx.poll_send_batch_to(cx, &bufs, &[aa]))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (n, _) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"a1");
    assert_eq!(tx.send_batch_to(&[], &targets).await.unwrap(), 0);
}

#[tern::test]
async fn send_batch_goes_to_the_connected_peer() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    // Unconnected: there is nowhere to send.
    assert!(tx.send_batch(&[IoSlice::new(b"x")]).await.is_err());
    tx.connect(rx.local_addr().unwrap()).unwrap();
    let bufs = [
        IoSlice::new(b"one"),
        IoSlice::new(b"two"),
        IoSlice::new(b""),
    ];
    let n = poll_fn(|cx| tx.poll_send_batch(cx, &bufs)).await.unwrap();
    assert_eq!(n, 3);
    let mut buf = [0u8; 8];
    for want in [b"one".as_slice(), b"two", b""] {
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], want);
    }
}

#[tern::test]
async fn string_addresses() {
    let a = UdpSocket::bind_str("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind_str("[::1]:0").unwrap();
    assert!(a.local_addr().unwrap().is_ipv4());
    assert!(b.local_addr().unwrap().is_ipv6());
    let c = UdpSocket::bind_str("127.0.0.1:0").unwrap();
    c.connect_str(&a.local_addr().unwrap().to_string()).unwrap();
    c.send(b"hi").await.unwrap();
    let mut buf = [0u8; 4];
    let (n, from) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"hi"[..], c.local_addr().unwrap()));
    for bad in ["localhost:53", "127.0.0.1", "[::1]", "1.2.3.4:70000"] {
        let e = UdpSocket::bind_str(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        let e = c.connect_str(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
    }
}

#[tern::test]
async fn recv_batch_takes_at_most_64_per_call() {
    const N: usize = 70;
    let rx = UdpSocket::bind(v4()).unwrap();
    let raddr = rx.local_addr().unwrap();
    let tx = std::net::UdpSocket::bind(v4()).unwrap();
    for i in 0..N {
        tx.send_to(&[i as u8], raddr).unwrap();
    }
    let mut storage = vec![[0u8; 4]; N + 10];
    let mut meta = vec![RecvMeta::default(); N + 10];
    let mut got = Vec::new();
    while got.len() < N {
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = rx.recv_batch(&mut bufs, &mut meta).await.unwrap();
        drop(bufs);
        assert!(n <= 64, "one call took {n}");
        got.extend(storage[..n].iter().zip(&meta).map(|(b, m)| (b[0], m.len)));
    }
    let want: Vec<(u8, usize)> = (0..N).map(|i| (i as u8, 1)).collect();
    assert_eq!(got, want);
}
