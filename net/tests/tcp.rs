//! TcpListener and TcpStream on loopback.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tern::net::{TcpListener, TcpStream};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A connection over loopback: the client's end and the server's.
async fn connected() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let c = TcpStream::connect(addr).await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    (c, s)
}

#[tern::test]
async fn echo_v4_and_v6() {
    for bind in [any(), "[::1]:0".parse().unwrap()] {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tern::spawn(async move {
            let (s, peer) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
            peer
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        assert_eq!(c.peer_addr().unwrap(), addr);
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert_eq!(server.await.unwrap(), c.local_addr().unwrap());
    }
}

fn pattern(i: usize, salt: u8) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(salt)
}

async fn send_pattern(s: &TcpStream, len: usize, salt: u8) {
    let chunk: Vec<u8> = (0..65536).map(|i| pattern(i, salt)).collect();
    let mut sent = 0;
    while sent < len {
        let n = (len - sent).min(chunk.len());
        // Chunk offsets stay aligned to 65536, so the pattern continues.
        s.write_all(&chunk[..n]).await.unwrap();
        sent += n;
    }
}

async fn check_pattern(s: &TcpStream, len: usize, salt: u8) {
    let mut got = 0usize;
    let mut buf = vec![0u8; 100_000];
    while got < len {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "early EOF after {got} bytes");
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(
                *b,
                pattern((got + k) % 65536, salt),
                "byte {} corrupted",
                got + k
            );
        }
        got += n;
    }
    assert_eq!(got, len);
}

#[tern::test]
async fn eight_mib_both_directions_at_once() {
    const LEN: usize = 8 << 20;
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tern::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let s = Rc::new(s);
        let w = {
            let s = s.clone();
            tern::spawn(async move { send_pattern(&s, LEN, 1).await })
        };
        check_pattern(&s, LEN, 2).await;
        w.await.unwrap();
    });
    let c = Rc::new(TcpStream::connect(addr).await.unwrap());
    let w = {
        let c = c.clone();
        tern::spawn(async move { send_pattern(&c, LEN, 2).await })
    };
    check_pattern(&c, LEN, 1).await;
    w.await.unwrap();
    server.await.unwrap();
}

#[tern::test]
async fn half_close_client_still_reads_reply() {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tern::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap(); // until the client's FIN
        s.write_all(&req).await.unwrap();
        s.write_all(b"-done").await.unwrap();
    });
    let c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"request").await.unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"request-done");
    server.await.unwrap();
}

#[tern::test]
async fn eof_after_fin_while_peer_keeps_reading() {
    let (c, s) = connected().await;
    s.shutdown(Shutdown::Write).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    // The other direction still works.
    c.write_all(b"still").await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"still");
}

#[tern::test]
async fn connect_refused() {
    let addr = {
        let l = TcpListener::bind(any()).unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tern::test]
async fn peer_reset_is_connection_reset() {
    let (c, s) = connected().await;
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s); // RST
    let mut buf = [0u8; 8];
    let err = c.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[tern::test]
async fn write_after_peer_closed_is_broken_pipe_not_sigpipe() {
    let (c, s) = connected().await;
    drop(s);
    let mut kinds = Vec::new();
    for _ in 0..100 {
        match c.write(&[0u8; 1024]).await {
            Ok(_) => tern::time::sleep(Duration::from_millis(1)).await,
            Err(e) => {
                kinds.push(e.kind());
                break;
            }
        }
    }
    let kind = kinds.first().copied().expect("writes kept succeeding");
    assert!(
        matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "{kind:?}"
    );
}

#[tern::test]
async fn accept_one_thousand_connections_concurrently() {
    const N: usize = 1000;
    tern::sys::process::raise_fd_limit().unwrap();
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tern::spawn(async move {
        let mut conns = Vec::new();
        for _ in 0..N {
            let (s, _) = listener.accept().await.unwrap();
            conns.push(tern::spawn(async move {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).await.unwrap();
                s.write_all(&b).await.unwrap();
            }));
        }
        for c in conns {
            c.await.unwrap();
        }
    });
    let clients: Vec<_> = (0..N)
        .map(|i| {
            tern::spawn(async move {
                let c = TcpStream::connect(addr).await.unwrap();
                let msg = (i as u16).to_be_bytes();
                c.write_all(&msg).await.unwrap();
                let mut b = [0u8; 2];
                c.read_exact(&mut b).await.unwrap();
                assert_eq!(b, msg);
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    server.await.unwrap();
    assert_eq!(tern::current_metrics().unwrap().io_sources, 0);
}

#[tern::test]
async fn read_and_write_from_two_tasks_on_shared_stream() {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tern::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    });
    let c = Rc::new(TcpStream::connect(addr).await.unwrap());
    let reader = {
        let c = c.clone();
        tern::spawn(async move {
            let mut all = Vec::new();
            // Through futures-io's AsyncRead for &TcpStream.
            AsyncReadExt::read_to_end(&mut &*c, &mut all).await.unwrap();
            all
        })
    };
    let writer = {
        let c = c.clone();
        tern::spawn(async move {
            for i in 0..100u8 {
                AsyncWriteExt::write_all(&mut &*c, &[i; 100]).await.unwrap();
                tern::yield_now().await;
            }
            c.shutdown(Shutdown::Write).unwrap();
        })
    };
    writer.await.unwrap();
    let all = reader.await.unwrap();
    let expected: Vec<u8> = (0..100u8).flat_map(|i| [i; 100]).collect();
    assert_eq!(all, expected);
    server.await.unwrap();
}

#[tern::test]
async fn bufreader_lines_over_a_stream() {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tern::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"one\ntwo\r\nthree").await.unwrap();
        s.close().await.unwrap();
    });
    let c = TcpStream::connect(addr).await.unwrap();
    let mut lines = BufReader::new(c).lines();
    let mut got = Vec::new();
    while let Some(line) = futures_util::StreamExt::next(&mut lines).await {
        got.push(line.unwrap());
    }
    assert_eq!(got, ["one", "two", "three"]);
    server.await.unwrap();
}

/// Data and FIN that arrive together, before the first read: the short read
/// of the data must not forget that the peer has closed.
#[tern::test]
async fn data_then_fin_in_one_edge() {
    let (c, s) = connected().await;
    s.write_all(b"abc").await.unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    drop(s);
    // Loopback delivers during the sending syscalls: data and FIN are both
    // queued at `c` now, and its first edge reports them together.
    let mut buf = [0u8; 64];
    assert_eq!(c.read(&mut buf).await.unwrap(), 3);
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
}

/// Urgent data does not stall the normal data around it: a peer sends
/// 4 KiB, one `MSG_OOB` byte and 4 KiB more, and stays open. A read stops
/// short at the urgent mark with data behind it, so that short read must
/// not make the reader wait for an edge that never comes (a reader that
/// clears readiness on every short read gets
/// 4,096 bytes and then nothing).
#[tern::test]
async fn urgent_data_does_not_stall_the_stream() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&[b'a'; 4096]).unwrap();
        // SAFETY: a valid fd and a one-byte buffer that outlives the call.
        let n = unsafe { libc::send(s.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(n, 1);
        s.write_all(&[b'b'; 4096]).unwrap();
        sent_tx.send(()).unwrap();
        // Stay open: no FIN may end the reader's wait.
        let _ = done_rx.recv();
    });
    let (stream, _) = listener.accept().await.unwrap();
    tern::spawn_blocking(move || sent_rx.recv().unwrap())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let read_all = async {
        while got.len() < 8192 {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "unexpected end of stream");
            got.extend_from_slice(&buf[..n]);
        }
    };
    let r = tern::time::timeout(std::time::Duration::from_secs(5), read_all).await;
    assert!(r.is_ok(), "the reader stalled after {} bytes", got.len());
    assert!(got[..4096].iter().all(|&b| b == b'a'));
    assert!(got[4096..].iter().all(|&b| b == b'b'));
    done_tx.send(()).unwrap();
    peer.join().unwrap();
}
