//! Receive-ahead (`net/src/udp/ahead.rs`) and readiness: a datagram the
//! kernel delivered is never left waiting for an edge that will not come,
//! whichever receive API took it out of the kernel's queue.

use std::net::SocketAddr;
use std::time::Duration;

use tern::net::UdpSocket;

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `recv_now` runs its receive whatever the runtime saw of readiness. On a
/// socket the runtime has not yet seen readable (no reactor turn since the
/// datagrams arrived), a receive of two there takes both datagrams out of
/// the kernel; if the second were held while the socket is not readable,
/// the edge the datagrams raised is dropped by epoll at the next wait (the
/// kernel's queue is empty by then) and the next `recv` would wait for a
/// datagram already received.
#[tern::test]
async fn a_datagram_behind_one_taken_by_recv_now_reaches_the_next_recv() {
    let peer = std::net::UdpSocket::bind(v4()).unwrap();
    let sock = UdpSocket::connected(peer.local_addr().unwrap()).unwrap();
    let me = sock.local_addr().unwrap();
    peer.send_to(b"a", me).unwrap();
    peer.send_to(b"b", me).unwrap();
    let mut buf = [0u8; 8];
    let n = sock.recv_now(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a");
    let n = tern::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .expect("the datagram behind the one recv_now took was left waiting")
        .unwrap();
    assert_eq!(&buf[..n], b"b");
}

/// As above, with a peek after `recv_now`: it must see the second datagram.
#[tern::test]
async fn a_peek_after_recv_now_sees_the_datagram_behind() {
    let peer = std::net::UdpSocket::bind(v4()).unwrap();
    let sock = UdpSocket::bind(v4()).unwrap();
    let me = sock.local_addr().unwrap();
    peer.send_to(b"a", me).unwrap();
    peer.send_to(b"b", me).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(sock.recv_now(&mut buf).unwrap(), 1);
    let (n, from) = tern::time::timeout(Duration::from_secs(5), sock.peek_from(&mut buf))
        .await
        .expect("peek_from waited while a datagram was queued or held")
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"b"[..], peer.local_addr().unwrap()));
    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"b");
}

/// With `set_recv_errors` (`IP_RECVERR`) the kernel queues each ICMP error
/// on the socket's error queue as well, charged to its receive buffer, and
/// the receive that reports the error does not take it off. Unless the
/// receive paths take each reported error off that queue, a few hundred
/// errors (a server that is down, a resolver's pool sockets) fill the
/// receive buffer for good and the kernel drops nearly every datagram that
/// arrives afterwards (here 1 of 100 got through). Each error is awaited
/// before the next send, so ICMP rate limiting cannot make the test flaky.
async fn reported_icmp_errors_leave_the_receive_buffer(any: SocketAddr) {
    const ERRORS: usize = 300;
    const DATAGRAMS: u8 = 100;
    let sock = UdpSocket::bind(any).unwrap();
    sock.set_recv_errors(true).unwrap();
    let dead = {
        let s = std::net::UdpSocket::bind(any).unwrap();
        s.local_addr().unwrap()
    };
    let mut buf = [0u8; 64];
    for i in 0..ERRORS {
        sock.send_to(b"x", dead).await.unwrap();
        let got = tern::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no ICMP error for send {i}"));
        assert_eq!(
            got.map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused,
            "send {i}"
        );
    }
    let peer = std::net::UdpSocket::bind(any).unwrap();
    let me = sock.local_addr().unwrap();
    for i in 0..DATAGRAMS {
        peer.send_to(&[i], me).unwrap();
    }
    for i in 0..DATAGRAMS {
        let (n, from) = tern::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("datagram {i} of {DATAGRAMS} was dropped by the kernel"))
            .unwrap();
        assert_eq!((&buf[..n], from), (&[i][..], peer.local_addr().unwrap()));
    }
}

#[tern::test]
async fn reported_icmp_errors_do_not_use_up_the_receive_buffer() {
    reported_icmp_errors_leave_the_receive_buffer(v4()).await;
}

#[tern::test]
async fn reported_icmpv6_errors_do_not_use_up_the_receive_buffer() {
    reported_icmp_errors_leave_the_receive_buffer("[::1]:0".parse().unwrap()).await;
}

/// `disconnect` drops what is queued, but at most 4096 datagrams per call
/// (a bound port can keep receiving from anyone while it drains). With a
/// large receive buffer more can be queued than that; what is left must
/// not be stranded behind a readiness `disconnect` cleared: the next
/// receive gets it without waiting for a new datagram's edge.
#[tern::test]
async fn datagrams_disconnect_leaves_queued_are_not_left_waiting() {
    use std::os::fd::AsRawFd;
    const SENT: usize = 6000;
    let peer = std::net::UdpSocket::bind(v4()).unwrap();
    let sock = UdpSocket::bind(v4()).unwrap();
    sock.set_recv_buffer_size(16 << 20).unwrap();
    // Past net.core.rmem_max where the test may (CAP_NET_ADMIN, as CI's
    // root has); a failure leaves the size set above.
    let size: libc::c_int = 16 << 20;
    // SAFETY: a valid fd and a c_int option value of the given length.
    let _ = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if sock.recv_buffer_size().unwrap() < SENT * 1024 {
        // A host limit, not a pass: in CI (as root) the buffer is forced.
        assert!(
            std::env::var_os("CI").is_none(),
            "net.core.rmem_max is too small to queue {SENT} datagrams"
        );
        eprintln!("skipped: net.core.rmem_max is too small to queue {SENT} datagrams");
        return;
    }
    sock.connect(peer.local_addr().unwrap()).unwrap();
    let me = sock.local_addr().unwrap();
    for _ in 0..SENT {
        peer.send_to(b"", me).unwrap();
    }
    // The runtime sees the datagrams' edge before the disconnect (a peek
    // waits for it), so no edge is pending after it.
    sock.peek_from(&mut [0u8; 1]).await.unwrap();
    let dropped = sock.disconnect().unwrap();
    let mut byte = 0u8;
    // SAFETY: `byte` is writable for the one byte given; no address asked.
    let left = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            std::ptr::addr_of_mut!(byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    } >= 0;
    assert!(
        dropped == SENT || left,
        "{dropped} of {SENT} dropped and nothing left"
    );
    if left {
        let mut buf = [0u8; 8];
        tern::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("a datagram disconnect left queued waits for an edge that will not come")
            .unwrap();
    }
}

/// As above, when sends take the pending errors: a send fails with an ICMP
/// error that came for an earlier one, as a receive would, and must take
/// its report off the error queue just the same.
#[tern::test]
async fn icmp_errors_reported_by_sends_do_not_use_up_the_receive_buffer() {
    const SENDS: usize = 600;
    const DATAGRAMS: u8 = 100;
    let sock = UdpSocket::bind(v4()).unwrap();
    sock.set_recv_errors(true).unwrap();
    let dead = {
        let s = std::net::UdpSocket::bind(v4()).unwrap();
        s.local_addr().unwrap()
    };
    let mut refused = 0;
    for _ in 0..SENDS {
        match sock.send_to(b"x", dead).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
            Err(e) => panic!("send: {e}"),
        }
    }
    assert!(refused >= 250, "only {refused} sends reported an error");
    let peer = std::net::UdpSocket::bind(v4()).unwrap();
    let me = sock.local_addr().unwrap();
    for i in 0..DATAGRAMS {
        peer.send_to(&[i], me).unwrap();
    }
    let mut buf = [0u8; 8];
    let mut i = 0;
    while i < DATAGRAMS {
        let got = tern::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("datagram {i} of {DATAGRAMS} was dropped by the kernel"));
        match got {
            Ok((n, _)) => {
                assert_eq!(&buf[..n], &[i]);
                i += 1;
            }
            // The last send's error, still pending.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        }
    }
}
