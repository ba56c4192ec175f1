//! TcpStream beyond read and write: read_exact, peek, split halves,
//! keepalive, TTL, and string addresses. Loopback only.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use tern::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tern::net::{TcpListener, TcpStream};

/// A connected pair over loopback at `bind`: (client, server side).
async fn pair_at(bind: SocketAddr) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(bind).unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tern::spawn(async move { listener.accept().await.unwrap().0 });
    let client = TcpStream::connect(addr).await.unwrap();
    (client, accept.await.unwrap())
}

async fn pair() -> (TcpStream, TcpStream) {
    pair_at("127.0.0.1:0".parse().unwrap()).await
}

#[tern::test]
async fn read_exact_gathers_pieces_and_reports_early_eof() {
    let (c, s) = pair().await;
    let writer = tern::spawn(async move {
        for piece in [&b"abc"[..], b"defg", b"hij"] {
            s.write_all(piece).await.unwrap();
            tern::yield_now().await;
        }
        s.write_all(b"xyz").await.unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        s
    });
    let mut buf = [0u8; 10];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"abcdefghij");
    let mut rest = [0u8; 5];
    let e = c.read_exact(&mut rest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    let msg = e.to_string();
    assert!(msg.contains("3 of the 5 bytes"), "{msg}");
    assert!(msg.contains(&c.peer_addr().unwrap().to_string()), "{msg}");
    assert_eq!(&rest[..3], b"xyz");
    drop(writer.await.unwrap());
    // An empty read_exact needs nothing.
    c.read_exact(&mut []).await.unwrap();
}

#[tern::test]
async fn peek_does_not_consume() {
    let (c, s) = pair().await;
    s.write_all(b"hello world").await.unwrap();
    let mut buf = [0u8; 5];
    // Wait until all eleven bytes are queued, peeking each time.
    let mut all = [0u8; 11];
    while c.peek(&mut all).await.unwrap() < all.len() {
        tern::yield_now().await;
    }
    assert_eq!(&all, b"hello world");
    let n = std::future::poll_fn(|cx| c.poll_peek(cx, &mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], b"hello");
    c.read_exact(&mut all).await.unwrap();
    assert_eq!(&all, b"hello world");
    // At end of stream a peek says 0.
    drop(s);
    assert_eq!(c.peek(&mut buf).await.unwrap(), 0);
}

#[tern::test]
async fn owned_halves_work_in_two_tasks_and_reunite() {
    let (c, s) = pair().await;
    let local = c.local_addr().unwrap();
    let echo = tern::spawn(async move {
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            match s.read(&mut buf).await.unwrap() {
                0 => break total,
                n => {
                    s.write_all(&buf[..n]).await.unwrap();
                    total += n;
                }
            }
        }
    });
    let (rd, wr) = c.into_split();
    assert_eq!(rd.local_addr().unwrap(), local);
    assert_eq!(wr.peer_addr().unwrap(), rd.peer_addr().unwrap());
    let reader = tern::spawn(async move {
        let mut buf = [0u8; 6];
        rd.read_exact(&mut buf).await.unwrap();
        (rd, buf)
    });
    wr.write_all(b"ping").await.unwrap();
    assert_eq!(wr.write(b"!!").await.unwrap(), 2);
    let (rd, got) = reader.await.unwrap();
    assert_eq!(&got, b"ping!!");
    let c = rd.reunite(wr).unwrap();
    // Reuniting did not shut down writing: the stream still echoes.
    c.write_all(b"again").await.unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"again");
    // Dropping the owned write half sends end of stream to the peer.
    let (rd, wr) = c.into_split();
    drop(wr);
    assert_eq!(echo.await.unwrap(), 11);
    assert_eq!(rd.read(&mut buf).await.unwrap(), 0);
}

#[tern::test]
async fn halves_of_different_streams_do_not_reunite() {
    let (a, _sa) = pair().await;
    let (b, _sb) = pair().await;
    let (ra, wa): (OwnedReadHalf, OwnedWriteHalf) = a.into_split();
    let (rb, wb) = b.into_split();
    let err = ra.reunite(wb).unwrap_err();
    assert!(err.to_string().contains("different"), "{err}");
    let (ra, wb) = (err.0, err.1);
    assert!(ra.reunite(wa).is_ok());
    assert!(rb.reunite(wb).is_ok());
}

#[tern::test]
async fn halves_implement_futures_io() {
    let (c, s) = pair().await;
    let (mut rd, mut wr) = c.into_split();
    let (srd, mut swr) = s.into_split();
    AsyncWriteExt::write_all(&mut wr, b"to server")
        .await
        .unwrap();
    AsyncWriteExt::close(&mut wr).await.unwrap();
    let mut got = Vec::new();
    let mut srd = srd;
    AsyncReadExt::read_to_end(&mut srd, &mut got).await.unwrap();
    assert_eq!(got, b"to server");
    AsyncWriteExt::write_all(&mut swr, b"to client")
        .await
        .unwrap();
    drop(swr);
    let mut got = String::new();
    AsyncReadExt::read_to_string(&mut rd, &mut got)
        .await
        .unwrap();
    assert_eq!(got, "to client");
}

#[tern::test]
async fn borrowed_split_reads_and_writes_at_once() {
    let (c, s) = pair().await;
    // futures-util's AsyncReadExt::split (by value) would win over the
    // inherent method in `c.split()`, so name the type.
    let (rd, wr) = TcpStream::split(&c);
    let (srd, swr) = TcpStream::split(&s);
    let mut a = [0u8; 3];
    let mut b = [0u8; 3];
    let (r1, r2, r3, r4) = futures_util::future::join4(
        wr.write_all(b"c2s"),
        swr.write_all(b"s2c"),
        srd.read_exact(&mut a),
        rd.read_exact(&mut b),
    )
    .await;
    r1.unwrap();
    r2.unwrap();
    r3.unwrap();
    r4.unwrap();
    assert_eq!((&a, &b), (b"c2s", b"s2c"));
    let mut p = [0u8; 1];
    wr.write_all(b"?").await.unwrap();
    srd.peek(&mut p).await.unwrap();
    assert_eq!(&p, b"?");
}

#[tern::test]
async fn keepalive_and_ttl_read_back() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let (c, _s) = pair_at(bind.parse().unwrap()).await;
        assert!(!c.keepalive().unwrap());
        c.set_keepalive(true).unwrap();
        assert!(c.keepalive().unwrap());
        c.set_keepalive(false).unwrap();
        assert!(!c.keepalive().unwrap());
        c.set_ttl(33).unwrap();
        assert_eq!(c.ttl().unwrap(), 33, "{bind}");
        c.set_ttl(64).unwrap();
        assert_eq!(c.ttl().unwrap(), 64, "{bind}");
    }
}

#[tern::test]
async fn string_addresses_bind_and_connect() {
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let listener = TcpListener::bind_str(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tern::spawn(async move { listener.accept().await.unwrap().1 });
        let c = TcpStream::connect_str(&addr.to_string()).await.unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        assert_eq!(accept.await.unwrap(), c.local_addr().unwrap());
    }
    for bad in ["localhost:80", "127.0.0.1", "", "[::1]:http", "300.1.1.1:1"] {
        let e = TcpListener::bind_str(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        let e = TcpStream::connect_str(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}
