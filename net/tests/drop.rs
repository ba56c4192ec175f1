//! Dropping a task blocked on a socket frees its reactor slot and its fd.

use std::net::SocketAddr;

use tern::net::{TcpListener, TcpStream, UdpSocket};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// fd counts are per process; tests that compare them take turns.
static FD_COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fds() -> usize {
    tern::sys::process::open_fd_count().unwrap()
}

fn sources() -> usize {
    tern::current_metrics().unwrap().io_sources
}

#[test]
fn aborting_blocked_tasks_frees_slots_and_fds() {
    let _turn = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    tern::block_on(aborting_blocked_tasks());
}

async fn aborting_blocked_tasks() {
    let (fd0, src0) = (fds(), sources());
    let udp = tern::spawn(async {
        let s = UdpSocket::bind(any()).unwrap();
        let mut buf = [0u8; 8];
        s.recv_from(&mut buf).await
    });
    let accept = tern::spawn(async {
        let l = TcpListener::bind(any()).unwrap();
        l.accept().await.map(|_| ())
    });
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let read = tern::spawn(async move {
        let c = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 8];
        c.read(&mut buf).await
    });
    let (peer, _) = listener.accept().await.unwrap();
    tern::yield_now().await;
    tern::yield_now().await;
    // udp socket, listener in task, our listener, the reader's stream, peer
    assert_eq!(sources() - src0, 5);
    assert_eq!(fds() - fd0, 5);
    udp.abort();
    accept.abort();
    read.abort();
    assert!(udp.await.unwrap_err().is_cancelled());
    assert!(accept.await.unwrap_err().is_cancelled());
    assert!(read.await.unwrap_err().is_cancelled());
    drop(peer);
    drop(listener);
    assert_eq!(sources(), src0);
    assert_eq!(fds(), fd0);
}

#[test]
fn sockets_outside_a_runtime_are_an_error_not_a_panic() {
    let _turn = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let err = UdpSocket::bind(any()).unwrap_err();
    assert!(err.to_string().contains("inside a tern runtime"), "{err}");
    let fd_before = fds();
    let _ = TcpListener::bind(any()).unwrap_err();
    assert_eq!(
        fds(),
        fd_before,
        "the socket made before the error is closed"
    );
}
