//! UdpSocket on loopback: echo, bulk without loss, concurrency, syscall
//! economy.

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;

use tern::net::UdpSocket;

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

/// A task receiving one datagram on `sock` and returning it.
fn receive_one(sock: Rc<UdpSocket>) -> tern::JoinHandle<Vec<u8>> {
    tern::spawn(async move {
        let mut buf = [0u8; 16];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        buf[..n].to_vec()
    })
}

async fn echo_roundtrip(any: SocketAddr) {
    let server = Rc::new(UdpSocket::bind(any).unwrap());
    let saddr = server.local_addr().unwrap();
    let s = server.clone();
    let echo = tern::spawn(async move {
        let mut buf = [0u8; 2048];
        for _ in 0..2 {
            let (n, from) = s.recv_from(&mut buf).await.unwrap();
            s.send_to(&buf[..n], from).await.unwrap();
        }
    });
    // Unconnected client.
    let client = UdpSocket::bind(any).unwrap();
    client.send_to(b"hello", saddr).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = client.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"hello"[..], saddr));
    // Connected client.
    let connected = UdpSocket::bind(any).unwrap();
    connected.connect(saddr).unwrap();
    assert_eq!(connected.peer_addr().unwrap(), saddr);
    connected.send(b"again").await.unwrap();
    let n = connected.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"again");
    echo.await.unwrap();
}

#[tern::test]
async fn echo_ipv4() {
    echo_roundtrip(v4()).await;
}

#[tern::test]
async fn echo_ipv6() {
    echo_roundtrip(v6()).await;
}

#[tern::test]
async fn ten_thousand_datagrams_nothing_lost() {
    const N: u32 = 10_000;
    const WINDOW: u32 = 64;
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let tx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let (raddr, taddr) = (rx.local_addr().unwrap(), tx.local_addr().unwrap());
    let receiver = {
        let rx = rx.clone();
        tern::spawn(async move {
            let mut buf = [0u8; 64];
            let mut next = 0u32;
            while next < N {
                let (n, from) = rx.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, taddr);
                assert_eq!(n, 4);
                let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
                assert_eq!(seq, next, "datagram lost or reordered");
                next += 1;
                if next % WINDOW == 0 || next == N {
                    rx.send_to(&next.to_be_bytes(), from).await.unwrap();
                }
            }
            next
        })
    };
    let mut ack = [0u8; 4];
    for start in (0..N).step_by(WINDOW as usize) {
        for seq in start..(start + WINDOW).min(N) {
            tx.send_to(&seq.to_be_bytes(), raddr).await.unwrap();
        }
        let (n, _) = tx.recv_from(&mut ack).await.unwrap();
        assert_eq!(n, 4);
        assert_eq!(u32::from_be_bytes(ack), (start + WINDOW).min(N));
    }
    assert_eq!(receiver.await.unwrap(), N);
}

#[tern::test]
async fn concurrent_recv_on_two_sockets() {
    let a = Rc::new(UdpSocket::bind(v4()).unwrap());
    let b = Rc::new(UdpSocket::bind(v6()).unwrap());
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let ra = receive_one(a.clone());
    let rb = receive_one(b.clone());
    tern::yield_now().await; // both are now waiting
    let s4 = UdpSocket::bind(v4()).unwrap();
    let s6 = UdpSocket::bind(v6()).unwrap();
    s6.send_to(b"to-b", ba).await.unwrap();
    s4.send_to(b"to-a", aa).await.unwrap();
    assert_eq!(rb.await.unwrap(), b"to-b");
    assert_eq!(ra.await.unwrap(), b"to-a");
}

#[tern::test]
async fn oversized_datagram_is_truncated_not_overflowing() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    tx.send_to(&[7u8; 1000], rx.local_addr().unwrap())
        .await
        .unwrap();
    let mut small = [0u8; 10];
    let (n, _) = rx.recv_from(&mut small).await.unwrap();
    assert_eq!(n, 10);
    assert_eq!(small, [7u8; 10]);
}

#[tern::test]
async fn from_std_socket() {
    let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_sock.local_addr().unwrap();
    let sock = UdpSocket::from_std(std_sock).unwrap();
    assert_eq!(sock.local_addr().unwrap(), addr);
    let tx = UdpSocket::bind(v4()).unwrap();
    tx.send_to(b"x", addr).await.unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(sock.recv_from(&mut buf).await.unwrap().0, 1);
}

/// A warm socket pair on one runtime thread exchanging 32-byte datagrams
/// makes two syscalls per message, the send and the receive: each receive
/// asks for two datagrams, and getting one shows the queue empty, so no
/// receive that says `WouldBlock` is needed before the reader waits. The sender
/// tells the runtime the datagram is queued on its own peer socket
/// (loopback delivers it before the send returns), so no epoll wait is
/// needed; only the reactor's regular check of epoll (once per 61 polls)
/// comes on top. The std floor is 2.
#[tern::test]
async fn two_syscalls_per_udp_message_between_sockets_of_one_runtime() {
    const ROUNDS: u64 = 1000;
    let a = Rc::new(UdpSocket::bind(v4()).unwrap());
    let b = Rc::new(UdpSocket::bind(v4()).unwrap());
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    let echo = echo_until_one_byte(b.clone());
    let per_message = ping_pong(&a, ROUNDS).await;
    assert!(
        per_message <= 2.1,
        "{per_message} syscalls per message (std blocking sockets make 2)"
    );
    a.send(&[1]).await.unwrap();
    echo.await.unwrap();
}

/// Echoes every datagram `b` receives back to its peer until a one-byte
/// one arrives.
fn echo_until_one_byte(b: Rc<UdpSocket>) -> tern::JoinHandle<()> {
    tern::spawn(async move {
        let mut buf = [0u8; 32];
        loop {
            let n = b.recv(&mut buf).await.unwrap();
            if n == 1 {
                break;
            }
            b.send(&buf[..n]).await.unwrap();
        }
    })
}

/// `ROUNDS` warm 32-byte round trips from `a`; returns tern's syscalls per
/// message.
async fn ping_pong(a: &UdpSocket, rounds: u64) -> f64 {
    let mut buf = [0u8; 32];
    let msg = [0x5au8; 32];
    for _ in 0..10 {
        a.send(&msg).await.unwrap();
        a.recv(&mut buf).await.unwrap();
    }
    let before = tern::sys::syscall_count();
    for _ in 0..rounds {
        a.send(&msg).await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &msg);
    }
    (tern::sys::syscall_count() - before) as f64 / (2 * rounds) as f64
}

/// The same exchange with a peer on another thread (so no loopback hint
/// applies): at most 4 syscalls per message (send, the receive that says
/// `WouldBlock`, epoll wait, receive; fewer when the reply is already
/// queued).
#[tern::test]
async fn at_most_four_syscalls_per_udp_message() {
    const ROUNDS: u64 = 1000;
    let a = UdpSocket::bind(v4()).unwrap();
    let b = std::net::UdpSocket::bind(v4()).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 32];
        loop {
            let n = b.recv(&mut buf).unwrap();
            if n == 1 {
                break;
            }
            b.send(&buf[..n]).unwrap();
        }
    });
    let per_message = ping_pong(&a, ROUNDS).await;
    assert!(per_message <= 4.0, "{per_message} syscalls per message");
    a.send(&[1]).await.unwrap();
    echo.join().unwrap();
}

/// A loopback hint that is wrong (the receiver is connected to another
/// peer, so the kernel drops the datagram) costs the receiver one receive
/// that finds nothing; it then waits for a real datagram and gets exactly
/// that one.
#[tern::test]
async fn wrong_loopback_hint_is_a_spurious_wakeup_only() {
    let r = Rc::new(UdpSocket::bind(v4()).unwrap());
    let peer = UdpSocket::bind(v4()).unwrap();
    let stranger = UdpSocket::bind(v4()).unwrap();
    r.connect(peer.local_addr().unwrap()).unwrap();
    let raddr = r.local_addr().unwrap();
    let tries = Rc::new(Cell::new(0));
    let reader = {
        let (r, tries) = (r.clone(), tries.clone());
        tern::spawn(async move {
            let mut buf = [0u8; 16];
            let n = poll_fn(|cx| {
                tries.set(tries.get() + 1);
                r.poll_recv(cx, &mut buf)
            })
            .await
            .unwrap();
            buf[..n].to_vec()
        })
    };
    tern::yield_now().await; // the reader now waits
    assert_eq!(tries.get(), 1);
    stranger.send_to(b"forged", raddr).await.unwrap();
    tern::yield_now().await; // the woken reader tries, finds nothing
    assert_eq!(tries.get(), 2, "the hint woke the reader");
    assert!(!reader.is_finished());
    peer.send_to(b"real", raddr).await.unwrap();
    assert_eq!(reader.await.unwrap(), b"real");
    assert_eq!(tries.get(), 3);
}

/// Hints follow the socket bound at an address: a wildcard-bound socket
/// gets them for loopback datagrams to its port, a dropped socket's entry
/// is gone, and IPv6 works the same.
#[tern::test]
async fn loopback_hints_follow_bound_sockets() {
    for (loopback, wildcard) in [(v4(), "0.0.0.0:0"), (v6(), "[::]:0")] {
        let first = UdpSocket::bind(loopback).unwrap();
        let port = first.local_addr().unwrap().port();
        drop(first);
        let mut any: SocketAddr = wildcard.parse().unwrap();
        any.set_port(port);
        let r = Rc::new(UdpSocket::bind(any).unwrap());
        let reader = receive_one(r.clone());
        tern::yield_now().await;
        let mut dest = loopback;
        dest.set_port(port);
        let s = UdpSocket::bind(loopback).unwrap();
        let before = tern::sys::syscall_count();
        s.send_to(b"hint", dest).await.unwrap();
        assert_eq!(reader.await.unwrap(), b"hint");
        // Then 20 more, received in turn. Per message: the send and the
        // receive, no epoll wait (a kernel that defers loopback delivery
        // under load may cost a stray extra call or two).
        let r2 = r.clone();
        let more = tern::spawn(async move {
            let mut buf = [0u8; 16];
            for i in 0..20u8 {
                let (n, _) = r2.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[i]);
            }
        });
        for i in 0..20u8 {
            s.send_to(&[i], dest).await.unwrap();
            tern::yield_now().await;
        }
        more.await.unwrap();
        let used = tern::sys::syscall_count() - before;
        assert!(
            used <= 2 * 21 + 3,
            "{used} syscalls for 21 messages to {dest}"
        );
    }
}

/// Datagrams that were queued together (one edge for all of them) are all
/// delivered: the socket stays readable until a receive says `WouldBlock`.
#[tern::test]
async fn queued_datagrams_are_all_delivered_when_idle() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    for i in 0..5u8 {
        tx.send_to(&[i], to).await.unwrap();
    }
    let mut buf = [0u8; 8];
    for i in 0..5u8 {
        let (n, _) = rx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &[i]);
    }
    // Nothing more: the next receive really waits (a timeout ends it).
    let more =
        tern::time::timeout(std::time::Duration::from_millis(20), rx.recv_from(&mut buf)).await;
    assert!(more.is_err());
}

/// Even when the runtime never runs out of work, a datagram queued behind
/// the one just received is delivered at once: the next receive runs the
/// syscall. (The sender is a std socket, so no loopback hint applies: both
/// datagrams arrive under the one edge the first receive consumes.)
#[tern::test]
async fn queued_datagram_is_delivered_while_another_task_stays_busy() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = std::net::UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    tx.send_to(b"one", to).unwrap();
    tx.send_to(b"two", to).unwrap();
    let count = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let busy = {
        let (count, stop) = (count.clone(), stop.clone());
        tern::spawn(async move {
            while !stop.get() && count.get() < 10_000_000 {
                count.set(count.get() + 1);
                tern::yield_now().await;
            }
        })
    };
    let mut buf = [0u8; 8];
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"one");
    let before = count.get();
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"two");
    let waited = count.get() - before;
    stop.set(true);
    busy.await.unwrap();
    assert!(waited <= 1, "second datagram waited {waited} busy polls");
}

/// Several tasks may wait to receive on one socket: each datagram reaches
/// one of them and none is left waiting forever.
#[tern::test]
async fn several_tasks_receive_on_one_socket() {
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let to = rx.local_addr().unwrap();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            tern::spawn(async move {
                let mut buf = [0u8; 8];
                let (n, _) = rx.recv_from(&mut buf).await.unwrap();
                buf[0..n].to_vec()
            })
        })
        .collect();
    tern::yield_now().await; // all three are waiting now
    let tx = UdpSocket::bind(v4()).unwrap();
    for i in 0..3u8 {
        tx.send_to(&[i], to).await.unwrap();
        // One datagram at a time, each after a turn of the reactor.
        tern::yield_now().await;
    }
    let mut got: Vec<u8> = Vec::new();
    for r in readers {
        // A reader whose waker was lost would wait forever: fail instead.
        let out = tern::time::timeout(std::time::Duration::from_secs(5), r)
            .await
            .expect("a reader was never woken");
        got.extend(out.unwrap());
    }
    got.sort();
    assert_eq!(got, [0, 1, 2]);
}

/// One task sends 10,000 four-byte datagrams to a socket of the same
/// runtime, yielding every 64 sends; another receives them. Every one
/// arrives, in order: a ready reader keeps receiving while datagrams are
/// queued, so its queue never overflows (a reader that took one datagram
/// per reactor turn would lose 96% of them here and then wait forever).
#[tern::test]
async fn same_runtime_sender_loses_nothing() {
    const N: u32 = 10_000;
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let to = rx.local_addr().unwrap();
    let receiver = {
        let rx = rx.clone();
        tern::spawn(async move {
            let mut buf = [0u8; 8];
            for i in 0..N {
                let (n, _) = rx.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &i.to_be_bytes(), "datagram {i}");
            }
        })
    };
    let tx = UdpSocket::bind(v4()).unwrap();
    for i in 0..N {
        tx.send_to(&i.to_be_bytes(), to).await.unwrap();
        if i % 64 == 63 {
            tern::yield_now().await;
        }
    }
    // Bounded: a lost datagram fails the test instead of hanging it.
    tern::time::timeout(std::time::Duration::from_secs(20), receiver)
        .await
        .expect("the receiver is still waiting: datagrams were lost")
        .unwrap();
}

/// 200 datagrams queued before the reader first runs, on a runtime where
/// another task is always ready: the reader takes them all within a few of
/// its polls (the cooperative budget makes it yield once per 128), not one
/// per reactor turn.
#[tern::test]
async fn queued_burst_drains_within_a_few_turns_on_a_busy_runtime() {
    const N: usize = 200;
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let to = rx.local_addr().unwrap();
    let tx = std::net::UdpSocket::bind(v4()).unwrap();
    for i in 0..N {
        tx.send_to(&[i as u8], to).unwrap();
    }
    let spins = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let busy = {
        let (spins, stop) = (spins.clone(), stop.clone());
        tern::spawn(async move {
            while !stop.get() {
                spins.set(spins.get() + 1);
                tern::yield_now().await;
            }
        })
    };
    let reader = {
        let rx = rx.clone();
        tern::spawn(async move {
            let mut buf = [0u8; 8];
            for i in 0..N {
                let (n, _) = rx.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &[i as u8]);
            }
        })
    };
    let start = spins.get();
    tern::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("burst not drained")
        .unwrap();
    let busy_polls = spins.get() - start;
    stop.set(true);
    busy.await.unwrap();
    // The reader needs its first edge (one reactor turn: at most 61
    // polls), then two polls of its own (200 receives, 128 per poll).
    assert!(
        busy_polls <= 61 + 3,
        "the burst took {busy_polls} polls of the busy task"
    );
}

/// Waiting on an idle socket and giving up (a timeout that elapsed)
/// leaves no waker behind: 10,000 tasks that each waited up to 50 ms leave
/// the socket's waiter list empty.
#[tern::test]
async fn cancelled_receives_leave_no_waiters() {
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let rx = rx.clone();
            tern::spawn(async move {
                let mut buf = [0u8; 8];
                let r = tern::time::timeout(
                    std::time::Duration::from_millis(50),
                    rx.recv_from(&mut buf),
                )
                .await;
                assert!(r.is_err());
            })
        })
        .collect();
    tern::yield_now().await;
    assert_eq!(tern::current_metrics().unwrap().io_waiters, 10_000);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(tern::current_metrics().unwrap().io_waiters, 0);
}

/// Receive-ahead: with two datagrams queued, one receive takes both (the
/// second is held); a peek sees the held one; the next receive gets it
/// without a syscall; a 60 KB datagram held ahead arrives whole.
#[tern::test]
async fn a_datagram_received_ahead_is_delivered_whole_and_in_order() {
    let rx = UdpSocket::bind(v4()).unwrap();
    let tx = std::net::UdpSocket::bind(v4()).unwrap();
    let to = rx.local_addr().unwrap();
    let big = vec![0xabu8; 60_000];
    tx.send_to(b"first", to).unwrap();
    tx.send_to(&big, to).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"first");
    let before = tern::sys::syscall_count();
    let (n, from) = rx.peek_from(&mut buf).await.unwrap();
    assert_eq!((n, from), (60_000, tx.local_addr().unwrap()));
    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        tern::sys::syscall_count(),
        before,
        "the held datagram cost a syscall"
    );
    assert_eq!(&buf[..n], &big[..]);
}

/// A datagram held ahead wakes the other readers of the socket: two tasks
/// wait, two datagrams arrive under one edge, the first task takes both
/// from the kernel and the second task still gets the second one.
#[tern::test]
async fn a_datagram_held_ahead_reaches_another_waiting_reader() {
    let rx = Rc::new(UdpSocket::bind(v4()).unwrap());
    let a = receive_one(rx.clone());
    let b = receive_one(rx.clone());
    tern::yield_now().await; // both wait
    let tx = std::net::UdpSocket::bind(v4()).unwrap();
    tx.send_to(b"one", rx.local_addr().unwrap()).unwrap();
    tx.send_to(b"two", rx.local_addr().unwrap()).unwrap();
    let both = async { (a.await.unwrap(), b.await.unwrap()) };
    let (x, y) = tern::time::timeout(std::time::Duration::from_secs(5), both)
        .await
        .expect("a reader was left waiting while a datagram was held");
    let mut got = vec![x, y];
    got.sort();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
}

/// `disconnect` drops a datagram held ahead along with the queued ones.
#[tern::test]
async fn disconnect_drops_a_datagram_held_ahead() {
    let peer = std::net::UdpSocket::bind(v4()).unwrap();
    let sock = UdpSocket::connected(peer.local_addr().unwrap()).unwrap();
    let me = sock.local_addr().unwrap();
    for m in [&b"a"[..], b"b", b"c"] {
        peer.send_to(m, me).unwrap();
    }
    let mut buf = [0u8; 8];
    assert_eq!(sock.recv(&mut buf).await.unwrap(), 1); // "a"; "b" held
    assert_eq!(sock.disconnect().unwrap(), 2, "held b and queued c");
}

#[tern::test]
async fn senders_are_reported_as_the_kernel_saw_them_after_a_reconnect() {
    // Datagrams from an old peer stay queued after `connect` to a new one;
    // receive-ahead (a receive of two, then plain receives in a burst) must
    // report each one's real sender, not the peer now connected.
    let sock = UdpSocket::bind(v4()).unwrap();
    let to = sock.local_addr().unwrap();
    let old = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(old.local_addr().unwrap()).unwrap();
    for i in 0..4u8 {
        old.send_to(&[i], to).unwrap();
    }
    sock.connect(new.local_addr().unwrap()).unwrap();
    new.send_to(&[9], to).unwrap();
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    for _ in 0..5 {
        let (n, from) = sock.recv_from(&mut buf).await.unwrap();
        got.push((buf[..n].to_vec(), from));
    }
    let old_addr = old.local_addr().unwrap();
    let want: Vec<(Vec<u8>, SocketAddr)> = (0..4u8)
        .map(|i| (vec![i], old_addr))
        .chain([(vec![9], new.local_addr().unwrap())])
        .collect();
    assert_eq!(got, want);
}

/// The syscalls `send` takes to reach a reader already waiting on `peer`,
/// which must get `payload`: the send and one receive of two when the
/// sender hints the right socket; a stale hint adds the epoll wait.
async fn syscalls_to_deliver(
    peer: &Rc<UdpSocket>,
    payload: &[u8],
    send: impl std::future::Future<Output = std::io::Result<usize>>,
) -> u64 {
    let reader = receive_one(peer.clone());
    tern::yield_now().await;
    let before = tern::sys::syscall_count();
    send.await.unwrap();
    assert_eq!(reader.await.unwrap(), payload);
    tern::sys::syscall_count() - before
}

#[tern::test]
async fn a_senders_remembered_hint_follows_a_socket_rebound_on_the_port() {
    // The sender remembers where its last loopback send went. When that
    // socket closes and another binds the same port, the next send must
    // hint the new one (no epoll wait before it is read).
    let s = UdpSocket::bind(v4()).unwrap();
    let first = Rc::new(UdpSocket::bind(v4()).unwrap());
    let dest = first.local_addr().unwrap();
    let reader = receive_one(first.clone());
    tern::yield_now().await;
    s.send_to(b"one", dest).await.unwrap();
    assert_eq!(reader.await.unwrap(), b"one");
    drop(first);
    let second = Rc::new(UdpSocket::bind(dest).unwrap());
    let used = syscalls_to_deliver(&second, b"two", s.send_to(b"two", dest)).await;
    assert!(
        used <= 2,
        "{used} syscalls: the hint went to the closed socket"
    );
}

#[tern::test]
async fn a_connected_senders_hint_follows_each_connect() {
    // `send` on a connected socket hints the peer it remembers from
    // `connect`; connecting to another socket of the runtime must move the
    // hint to it (no epoll wait before it is read). The sockets are all
    // bound first, so the runtime's map of them does not change between
    // the rounds: only the connect tells the sender its peer moved.
    let s = UdpSocket::bind(v4()).unwrap();
    let peers = [
        Rc::new(UdpSocket::bind(v4()).unwrap()),
        Rc::new(UdpSocket::bind(v4()).unwrap()),
    ];
    for round in 0..4u8 {
        let peer = &peers[usize::from(round % 2)];
        s.connect(peer.local_addr().unwrap()).unwrap();
        let used = syscalls_to_deliver(peer, &[round], s.send(&[round])).await;
        assert!(
            used <= 2,
            "round {round}: {used} syscalls: the hint missed the new peer"
        );
    }
}

#[tern::test]
async fn a_connected_recv_holds_the_second_datagram_with_its_sender() {
    // `recv` does not ask the kernel for the first datagram's sender, but
    // the second, held for the next receive, keeps its own: `recv_from`
    // then reports it. Loopback normally queues both before the sends
    // return; the sender is checked every round, and at least one round
    // must have held the second (no syscall for it).
    let sender = std::net::UdpSocket::bind(v4()).unwrap();
    let r = UdpSocket::bind(v4()).unwrap();
    let from = sender.local_addr().unwrap();
    r.connect(from).unwrap();
    let to = r.local_addr().unwrap();
    let mut held = 0;
    for _ in 0..5 {
        sender.send_to(b"one", to).unwrap();
        sender.send_to(b"two", to).unwrap();
        let mut buf = [0u8; 8];
        let n = r.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        let before = tern::sys::syscall_count();
        let (n, got_from) = r.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], got_from), (&b"two"[..], from));
        if tern::sys::syscall_count() == before {
            held += 1;
        }
    }
    assert!(held > 0, "the second datagram was never held");
}

#[tern::test]
async fn a_burst_is_read_whole_and_in_order_then_request_response_is_two_syscalls_again() {
    // 50 datagrams queued at once put the receiver in burst mode (plain
    // receives until one finds the queue empty); all arrive, in order, and
    // afterwards a ping-pong is back to the send and one receive of two.
    let a = Rc::new(UdpSocket::bind(v4()).unwrap());
    let b = Rc::new(UdpSocket::bind(v4()).unwrap());
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    for i in 0..50u8 {
        b.send(&[i]).await.unwrap();
    }
    let mut buf = [0u8; 32];
    for i in 0..50u8 {
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &[i]);
    }
    let echo = echo_until_one_byte(b.clone());
    let per_message = ping_pong(&a, 200).await;
    assert!(
        per_message <= 2.1,
        "{per_message} syscalls per message after a burst"
    );
    a.send(&[1]).await.unwrap();
    echo.await.unwrap();
}

/// Reactor turns of `sleep(1 ms)` on `rt` after `before` ran.
async fn sleep_turns_after(
    rt: &tern::Runtime,
    before: impl std::future::Future<Output = ()>,
) -> u64 {
    before.await;
    let t0 = rt.metrics().reactor_turns;
    tern::time::sleep(std::time::Duration::from_millis(1)).await;
    rt.metrics().reactor_turns - t0
}

/// A send raises no writability edge: a runtime that parks right after it
/// (as a DNS query does) parks once, not once for a spurious wake-up and
/// once more. With spinning off, a sleep is one turn of the reactor.
#[test]
fn a_send_does_not_wake_the_parked_runtime() {
    let rt = tern::Runtime::builder()
        .spin_before_park(false)
        .build()
        .unwrap();
    let sink = std::net::UdpSocket::bind(v4()).unwrap();
    let to = sink.local_addr().unwrap();
    rt.block_on(async {
        let sock = UdpSocket::bind(v4()).unwrap();
        // Whatever edges registering the socket raised are taken first.
        tern::time::sleep(std::time::Duration::from_millis(1)).await;
        for round in 0..5 {
            assert_eq!(
                sleep_turns_after(&rt, async {}).await,
                1,
                "round {round}, no send"
            );
            let after_send = sleep_turns_after(&rt, async {
                sock.send_to(b"x", to).await.unwrap();
            })
            .await;
            assert_eq!(
                after_send, 1,
                "round {round}: turns of a sleep after a send"
            );
        }
    });
    let mut buf = [0u8; 8];
    sink.set_nonblocking(true).unwrap();
    let mut got = 0;
    while sink.recv(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, 5);
}
