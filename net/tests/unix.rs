//! UnixStream, UnixListener and UnixDatagram: filesystem paths (in fresh
//! temporary directories, removed afterwards), the abstract namespace,
//! pairs, split halves, futures-io, and errors that name the path.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use tern::net::{UnixDatagram, UnixListener, UnixStream};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tern-unix-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name in the abstract namespace no other test (or run) uses.
fn abstract_name(tag: &str) -> Vec<u8> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("tern-test-{}-{tag}-{n}", std::process::id()).into_bytes()
}

async fn echo_once(listener: UnixListener) {
    let (s, peer) = listener.accept().await.unwrap();
    assert!(peer.is_unnamed());
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf).await.unwrap() {
            0 => break,
            n => s.write_all(&buf[..n]).await.unwrap(),
        }
    }
}

async fn check_echo(c: &UnixStream) {
    c.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tern::test]
async fn stream_over_a_filesystem_path() {
    let dir = TempDir::new();
    let path = dir.path("echo.sock");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    assert!(path.exists());
    let server = tern::spawn(echo_once(listener));
    let c = UnixStream::connect(&path).await.unwrap();
    assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    assert!(c.local_addr().unwrap().is_unnamed());
    check_echo(&c).await;
    c.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).await.unwrap(), 0);
    server.await.unwrap();
    assert!(c.as_raw_fd() >= 0 && c.as_fd().as_raw_fd() == c.as_raw_fd());
}

#[tern::test]
async fn stream_over_an_abstract_name() {
    let name = abstract_name("stream");
    let listener = UnixListener::bind_abstract(&name).unwrap();
    let local = listener.local_addr().unwrap();
    assert_eq!(local.as_abstract_name(), Some(name.as_slice()));
    assert_eq!(local.as_pathname(), None);
    assert!(local.to_string().starts_with("@tern-test-"), "{local}");
    let server = tern::spawn(echo_once(listener));
    // A path whose first byte is NUL names the same socket.
    let mut nul_path = vec![0u8];
    nul_path.extend_from_slice(&name);
    let nul_path = PathBuf::from(String::from_utf8(nul_path).unwrap());
    let c = UnixStream::connect(&nul_path).await.unwrap();
    check_echo(&c).await;
    drop(c);
    server.await.unwrap();

    let listener = UnixListener::bind(&nul_path).unwrap();
    let server = tern::spawn(echo_once(listener));
    let c = UnixStream::connect_abstract(&name).await.unwrap();
    assert_eq!(
        c.peer_addr().unwrap().as_abstract_name(),
        Some(name.as_slice())
    );
    check_echo(&c).await;
    drop(c);
    server.await.unwrap();
}

#[tern::test]
async fn errors_name_the_path() {
    let dir = TempDir::new();
    let missing = dir.path("nobody-here.sock");
    let e = UnixStream::connect(&missing).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");

    let path = dir.path("taken.sock");
    let _l = UnixListener::bind(&path).unwrap();
    let e = UnixListener::bind(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");

    let name = abstract_name("nobody");
    let e = UnixStream::connect_abstract(&name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let shown = format!("@{}", String::from_utf8(name).unwrap());
    assert!(e.to_string().contains(&shown), "{e}");

    let long = dir.path(&"x".repeat(120));
    let e = UnixListener::bind(&long).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("xxxxxxxx"), "{e}");
    let e = UnixDatagram::bind("").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tern::test]
async fn pair_read_exact_peek_and_eof() {
    let (a, b) = UnixStream::pair().unwrap();
    assert!(a.peer_addr().unwrap().is_unnamed());
    a.write_all(b"hello").await.unwrap();
    let mut p = [0u8; 5];
    assert_eq!(b.peek(&mut p).await.unwrap(), 5);
    let mut got = [0u8; 5];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!((&p, &got), (b"hello", b"hello"));
    a.write_all(b"ab").await.unwrap();
    drop(a);
    let mut three = [0u8; 3];
    let e = b.read_exact(&mut three).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    assert!(e.to_string().contains("2 of the 3 bytes"), "{e}");
}

#[tern::test]
async fn owned_halves_futures_io_and_reunite() {
    let (a, b) = UnixStream::pair().unwrap();
    let (rd, mut wr) = a.into_split();
    let echo = tern::spawn(async move {
        let mut all = Vec::new();
        b.read_to_end(&mut all).await.unwrap();
        b.write_all(&all).await.unwrap();
    });
    let writer = tern::spawn(async move {
        AsyncWriteExt::write_all(&mut wr, b"through halves")
            .await
            .unwrap();
        wr.shutdown().unwrap();
        wr
    });
    let wr = writer.await.unwrap();
    let mut got = Vec::new();
    let mut rd = rd;
    AsyncReadExt::read_to_end(&mut rd, &mut got).await.unwrap();
    assert_eq!(got, b"through halves");
    echo.await.unwrap();
    let a = rd.reunite(wr).unwrap();
    assert_eq!(a.read(&mut [0u8; 1]).await.unwrap(), 0);

    let (x, _y) = UnixStream::pair().unwrap();
    let (p, _q) = UnixStream::pair().unwrap();
    let (xr, _xw) = x.into_split();
    let (_pr, pw) = p.into_split();
    assert!(xr.reunite(pw).is_err());
}

#[tern::test]
async fn borrowed_halves_and_futures_io_on_the_stream() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let (rd, wr) = UnixStream::split(&b);
    AsyncWriteExt::write_all(&mut a, b"abc").await.unwrap();
    let mut buf = [0u8; 3];
    rd.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"abc");
    wr.write_all(b"xyz").await.unwrap();
    AsyncReadExt::read_exact(&mut a, &mut buf).await.unwrap();
    assert_eq!(&buf, b"xyz");
}

#[tern::test]
async fn datagrams_between_paths() {
    let dir = TempDir::new();
    let (pa, pb) = (dir.path("a.sock"), dir.path("b.sock"));
    let a = UnixDatagram::bind(&pa).unwrap();
    let b = UnixDatagram::bind(&pb).unwrap();
    assert_eq!(a.local_addr().unwrap().as_pathname(), Some(pa.as_path()));
    assert_eq!(a.send_to(b"hello", &pb).await.unwrap(), 5);
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        (&buf[..n], from.as_pathname()),
        (&b"hello"[..], Some(pa.as_path()))
    );
    // Reply to whatever address the datagram came from.
    b.send_to_addr(b"back", &from).await.unwrap();
    let (n, from) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        (&buf[..n], from.as_pathname()),
        (&b"back"[..], Some(pb.as_path()))
    );
    // Boundaries are kept, and a short buffer cuts a datagram.
    a.connect(&pb).unwrap();
    assert_eq!(a.peer_addr().unwrap().as_pathname(), Some(pb.as_path()));
    a.send(b"one").await.unwrap();
    a.send(b"two-longer").await.unwrap();
    assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
    let mut short = [0u8; 3];
    assert_eq!(b.recv(&mut short).await.unwrap(), 3);
    assert_eq!(&short, b"two");
    let e = a.send_to(b"x", dir.path("missing.sock")).await.unwrap_err();
    assert!(e.to_string().contains("missing.sock"), "{e}");
}

#[tern::test]
async fn datagrams_in_the_abstract_namespace_and_unbound() {
    let name = abstract_name("dgram");
    let server = UnixDatagram::bind_abstract(&name).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    client.connect_abstract(&name).unwrap();
    client.send(b"q").await.unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"q");
    // An unbound sender is unnamed: there is no address to reply to.
    assert!(from.is_unnamed());
    let e = server.send_to_addr(b"r", &from).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    let named = UnixDatagram::bind_abstract(&abstract_name("client")).unwrap();
    named.connect_abstract(&name).unwrap();
    named.send(b"q2").await.unwrap();
    let (n, from) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"q2");
    server.send_to_addr(b"r2", &from).await.unwrap();
    assert_eq!(named.recv(&mut buf).await.unwrap(), 2);
    assert_eq!(&buf[..2], b"r2");
}

#[tern::test]
async fn datagram_pair_waits_for_data() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let b = std::rc::Rc::new(b);
    let b2 = b.clone();
    let receiver = tern::spawn(async move {
        let mut buf = [0u8; 8];
        let n = std::future::poll_fn(|cx| b2.poll_recv(cx, &mut buf))
            .await
            .unwrap();
        buf[..n].to_vec()
    });
    tern::yield_now().await;
    assert!(!receiver.is_finished());
    std::future::poll_fn(|cx| a.poll_send(cx, b"late"))
        .await
        .unwrap();
    assert_eq!(receiver.await.unwrap(), b"late");
    a.shutdown(Shutdown::Write).unwrap();
    assert!(a.send(b"x").await.is_err());
}

#[test]
fn temp_dirs_are_removed() {
    let dir = TempDir::new();
    let p = dir.0.clone();
    assert!(Path::new(&p).exists());
    drop(dir);
    assert!(!p.exists());
}

/// A datagram socket asks epoll for writability only once a send has to
/// wait: a send that found no room must still wake when room comes (for
/// a socket pair, when the queue has drained: the kernel reports write
/// space only once most of the send buffer is free).
#[tern::test]
async fn datagram_send_that_must_wait_wakes_when_room_comes() {
    let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    // Fill from the std side: the next send would block.
    let mut queued = 0usize;
    loop {
        match a.send(b"fill") {
            Ok(_) => queued += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the queue: {e}"),
        }
        assert!(queued < 1_000_000, "the queue never filled");
    }
    let a = UnixDatagram::from_std(a).unwrap();
    let writer = tern::spawn(async move { a.send(b"last").await });
    tern::yield_now().await;
    assert!(!writer.is_finished(), "the send should wait for room");
    let mut buf = [0u8; 8];
    for _ in 0..queued {
        assert_eq!(b.recv(&mut buf).unwrap(), 4);
    }
    // The writer is woken by the writability edge, or never.
    let sent = tern::time::timeout(std::time::Duration::from_secs(10), writer)
        .await
        .expect("the waiting send was never woken")
        .unwrap()
        .unwrap();
    assert_eq!(sent, 4);
    assert_eq!(b.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"last");
    assert!(b.recv(&mut buf).is_err(), "only the last datagram was left");
}
