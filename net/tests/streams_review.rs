//! Review of the stream sockets' read/write paths: urgent data and short
//! reads through every read path (owned and borrowed halves, futures-io),
//! two tasks on the two halves of one fd, a half dropped while the other
//! waits, data then FIN, and address errors. Loopback only.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::io::AsyncReadExt;
use tern::net::{TcpListener, TcpStream, UnixDatagram, UnixStream};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let c = TcpStream::connect(addr).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    (c, s)
}

/// Sends 4 KiB of `a`, one urgent byte, 4 KiB of `b` on `fd` (blocking
/// writes from another thread are not needed: loopback takes 8 KiB at once).
fn send_around_urgent(fd: i32) {
    let a = [b'a'; 4096];
    let b = [b'b'; 4096];
    // SAFETY: a valid fd and buffers that outlive the calls.
    unsafe {
        assert_eq!(libc::send(fd, a.as_ptr().cast(), a.len(), 0), 4096);
        assert_eq!(libc::send(fd, b"X".as_ptr().cast(), 1, libc::MSG_OOB), 1);
        assert_eq!(libc::send(fd, b.as_ptr().cast(), b.len(), 0), 4096);
    }
}

fn check_around_urgent(got: &[u8]) {
    assert_eq!(got.len(), 8192);
    assert!(got[..4096].iter().all(|&b| b == b'a'));
    assert!(got[4096..].iter().all(|&b| b == b'b'));
}

/// Reads 8 KiB with `read` (one call per chunk) within 5 s.
async fn gather<F, Fut>(mut read: F) -> Vec<u8>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = (Vec<u8>, usize)>,
{
    let mut got = Vec::new();
    let work = async {
        let mut buf = vec![0u8; 65536];
        while got.len() < 8192 {
            let (b, n) = read(buf).await;
            buf = b;
            assert!(n > 0, "unexpected end of stream");
            got.extend_from_slice(&buf[..n]);
        }
    };
    let r = tern::time::timeout(Duration::from_secs(5), work).await;
    assert!(r.is_ok(), "the reader stalled after {} bytes", got.len());
    got
}

/// As [`gather`], through futures-io's `AsyncRead` on `rd`.
// `gather` awaits each read before it makes the next, so the borrow is
// never shared.
#[allow(clippy::await_holding_refcell_ref)]
async fn gather_futures_io(rd: impl futures_util::io::AsyncRead + Unpin) -> Vec<u8> {
    let rd = std::rc::Rc::new(std::cell::RefCell::new(rd));
    gather(|mut buf| {
        let rd = rd.clone();
        async move {
            let mut rd = rd.borrow_mut();
            let n = AsyncReadExt::read(&mut *rd, &mut buf).await.unwrap();
            (buf, n)
        }
    })
    .await
}

#[tern::test]
async fn tcp_urgent_through_owned_read_half() {
    let (c, s) = tcp_pair().await;
    send_around_urgent(s.as_raw_fd());
    let (rd, _wr) = c.into_split();
    let rd = std::rc::Rc::new(rd);
    let got = gather(|mut buf| {
        let rd = rd.clone();
        async move {
            let n = rd.read(&mut buf).await.unwrap();
            (buf, n)
        }
    })
    .await;
    check_around_urgent(&got);
}

#[tern::test]
async fn tcp_urgent_through_futures_io_on_owned_half_and_ref() {
    let (c, s) = tcp_pair().await;
    send_around_urgent(s.as_raw_fd());
    let (rd, _wr) = c.into_split();
    let got = gather_futures_io(rd).await;
    check_around_urgent(&got);

    let (c, s) = tcp_pair().await;
    send_around_urgent(s.as_raw_fd());
    let c = std::rc::Rc::new(c);
    let got = gather(|mut buf| {
        let c = c.clone();
        async move {
            let n = AsyncReadExt::read(&mut &*c, &mut buf).await.unwrap();
            (buf, n)
        }
    })
    .await;
    check_around_urgent(&got);
}

#[tern::test]
async fn tcp_urgent_through_read_exact_of_halves() {
    let (c, s) = tcp_pair().await;
    send_around_urgent(s.as_raw_fd());
    let (rd, _wr) = c.into_split();
    let mut got = vec![0u8; 8192];
    let r = tern::time::timeout(Duration::from_secs(5), rd.read_exact(&mut got)).await;
    assert!(r.is_ok(), "read_exact stalled at the urgent mark");
    r.unwrap().unwrap();
    check_around_urgent(&got);

    let (c, s) = tcp_pair().await;
    send_around_urgent(s.as_raw_fd());
    let (brd, _bwr) = TcpStream::split(&c);
    let mut got = vec![0u8; 8192];
    let r = tern::time::timeout(Duration::from_secs(5), brd.read_exact(&mut got)).await;
    assert!(r.is_ok(), "borrowed read_exact stalled at the urgent mark");
    r.unwrap().unwrap();
    check_around_urgent(&got);
}

/// AF_UNIX stream sockets have `MSG_OOB` too (Linux 5.15+): a read stops
/// short before the urgent byte.
#[tern::test]
async fn unix_urgent_through_halves_and_futures_io() {
    let (a, b) = UnixStream::pair().unwrap();
    // SAFETY: a valid fd and a one-byte buffer.
    let probe = unsafe { libc::send(a.as_raw_fd(), b"Z".as_ptr().cast(), 1, libc::MSG_OOB) };
    if probe != 1 {
        assert!(
            std::env::var_os("CI").is_none(),
            "AF_UNIX MSG_OOB unsupported by this kernel"
        );
        eprintln!("AF_UNIX MSG_OOB unsupported here; skipped");
        return;
    }
    // Take the probe byte off (it is the urgent byte) with a normal read:
    // the oob byte is skipped when nothing is in front of it; drain it.
    let mut one = [0u8; 1];
    // SAFETY: valid fd and buffer.
    unsafe { libc::recv(b.as_raw_fd(), one.as_mut_ptr().cast(), 1, libc::MSG_OOB) };
    send_around_urgent(a.as_raw_fd());
    let (rd, _wr) = b.into_split();
    let got = gather_futures_io(rd).await;
    check_around_urgent(&got);
}

/// The two owned halves in two tasks: the writer blocks on a full send
/// buffer (many partial writes), the reader waits for data; each is woken
/// by its own edge.
#[tern::test]
async fn owned_halves_in_two_tasks_wake_on_their_own_edges() {
    const LEN: usize = 8 << 20;
    let (c, s) = tcp_pair().await;
    let (rd, wr) = c.into_split();
    let writer = tern::spawn(async move {
        let data = vec![7u8; LEN];
        wr.write_all(&data).await.unwrap();
        wr
    });
    let reader = tern::spawn(async move {
        let mut buf = [0u8; 5];
        rd.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"reply");
        assert_eq!(rd.read(&mut buf).await.unwrap(), 0);
        rd
    });
    let peer = async {
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        while total < LEN {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            assert!(buf[..n].iter().all(|&b| b == 7));
            total += n;
        }
        s.write_all(b"reply").await.unwrap();
        s.shutdown(Shutdown::Write).unwrap();
    };
    let r = tern::time::timeout(Duration::from_secs(10), async {
        peer.await;
        let wr = writer.await.unwrap();
        let rd = reader.await.unwrap();
        rd.reunite(wr).unwrap()
    })
    .await;
    assert!(r.is_ok(), "a half was not woken");
}

/// Dropping the write half while the read half waits: the peer reads end of
/// stream, and the waiting reader still gets the peer's last bytes and its
/// end of stream.
#[tern::test]
async fn write_half_dropped_while_read_half_waits() {
    let (c, s) = tcp_pair().await;
    let (rd, wr) = c.into_split();
    let reader = tern::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match rd.read(&mut buf).await.unwrap() {
                0 => break got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    tern::yield_now().await;
    drop(wr);
    let r = tern::time::timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
        s.write_all(b"goodbye").await.unwrap();
        drop(s);
        reader.await.unwrap()
    })
    .await
    .expect("stalled");
    assert_eq!(r, b"goodbye");
}

/// Data then FIN, read through futures-io on an owned half with a buffer
/// larger than the data: the short read must not lose the end of stream.
#[tern::test]
async fn data_then_fin_through_futures_io_half() {
    let (c, s) = tcp_pair().await;
    s.write_all(b"abc").await.unwrap();
    drop(s);
    let (mut rd, _wr) = c.into_split();
    let mut buf = [0u8; 64];
    let r = tern::time::timeout(Duration::from_secs(5), async {
        assert_eq!(AsyncReadExt::read(&mut rd, &mut buf).await.unwrap(), 3);
        assert_eq!(AsyncReadExt::read(&mut rd, &mut buf).await.unwrap(), 0);
        assert_eq!(AsyncReadExt::read(&mut rd, &mut buf).await.unwrap(), 0);
    })
    .await;
    assert!(r.is_ok());

    let (a, b) = UnixStream::pair().unwrap();
    a.write_all(b"abc").await.unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let (mut rd, _wr) = b.into_split();
    let r = tern::time::timeout(Duration::from_secs(5), async {
        assert_eq!(AsyncReadExt::read(&mut rd, &mut buf).await.unwrap(), 3);
        assert_eq!(AsyncReadExt::read(&mut rd, &mut buf).await.unwrap(), 0);
    })
    .await;
    assert!(r.is_ok());
    drop(a);
}

#[tern::test]
async fn connect_errors_name_the_address() {
    for bad in [
        "localhost:80",
        "127.0.0.1",
        "",
        "[::1]",
        "1.2.3.4:70000",
        "\u{0}:1",
    ] {
        let e = TcpStream::connect_str(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
    // A port nobody listens on (bound, then closed).
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}

/// A datagram socket whose peer vanished: sending is an error, not a hang
/// or a panic; queued datagrams are still received.
#[tern::test]
async fn unix_datagram_with_vanished_peer() {
    let (a, b) = UnixDatagram::pair().unwrap();
    a.send(b"last").await.unwrap();
    drop(a);
    let mut buf = [0u8; 16];
    let n = tern::time::timeout(Duration::from_secs(5), b.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"last");
    let e = tern::time::timeout(Duration::from_secs(5), b.send(b"x"))
        .await
        .expect("send to a vanished peer hung")
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::BrokenPipe
        ),
        "{e:?}"
    );
}

/// Known limitation, not fixed: the urgent byte taken off through the raw fd
/// (`recv(MSG_OOB)`) before the runtime saw the socket's edge. The kernel
/// then reports no EPOLLPRI (urg_data is TCP_URG_READ, not VALID), yet a
/// normal read still stops short at the mark, so the short read clears
/// readiness and the 4 KiB behind the mark wait for an edge that never
/// comes. Fails today ("stalled after 4096 bytes"); run with --ignored.
#[tern::test]
#[ignore = "known: short-read readiness clearing vs. urgent byte read through the raw fd"]
async fn urgent_byte_taken_by_raw_msg_oob_before_the_edge() {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        send_around_urgent(s.as_raw_fd());
        sent_tx.send(()).unwrap();
        let _ = done_rx.recv();
    });
    let (stream, _) = listener.accept().await.unwrap();
    sent_rx.recv().unwrap();
    let mut x = [0u8; 1];
    // SAFETY: valid fd and buffer.
    let n = unsafe { libc::recv(stream.as_raw_fd(), x.as_mut_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!((n, x[0]), (1, b'X'));
    let s = std::rc::Rc::new(stream);
    let got = gather(|mut buf| {
        let s = s.clone();
        async move {
            let n = s.read(&mut buf).await.unwrap();
            (buf, n)
        }
    })
    .await;
    check_around_urgent(&got);
    done_tx.send(()).unwrap();
    peer.join().unwrap();
}
