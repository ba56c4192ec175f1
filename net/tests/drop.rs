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

thread_local! {
    /// The socket a [`PollsOnDrop`] waker polls when it is dropped.
    static REENTER: std::cell::RefCell<Option<std::rc::Rc<UdpSocket>>> =
        const { std::cell::RefCell::new(None) };
}

/// A waker whose drop polls the socket in [`REENTER`] (both ways of
/// receiving, so both kinds of waiter entry), as user code in a waker's
/// destructor may.
struct PollsOnDrop;

impl std::task::Wake for PollsOnDrop {
    fn wake(self: std::sync::Arc<Self>) {}
}

impl Drop for PollsOnDrop {
    fn drop(&mut self) {
        let Some(sock) = REENTER.with(|s| s.borrow().clone()) else {
            return;
        };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut buf = [0u8; 8];
        let _ = sock.poll_recv_from(&mut cx, &mut buf);
        let mut recv = std::pin::pin!(sock.recv_from(&mut buf));
        let _ = std::future::Future::poll(recv.as_mut(), &mut cx);
    }
}

/// A receive's waker is replaced (the task polls it with a new waker),
/// and the old one's destructor polls the same socket: the old waker is
/// dropped after the socket's waiter list is released, so nothing is
/// borrowed twice, and the receive still gets its datagram.
#[test]
fn a_replaced_waker_that_polls_its_socket_when_dropped() {
    let _turn = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    tern::block_on(replaced_waker_polls_its_socket());
}

async fn replaced_waker_polls_its_socket() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let sock = std::rc::Rc::new(UdpSocket::bind(any()).unwrap());
    REENTER.with(|s| *s.borrow_mut() = Some(sock.clone()));
    let mut buf = [0u8; 8];
    let mut recv = std::pin::pin!(sock.recv_from(&mut buf));
    let first = Waker::from(std::sync::Arc::new(PollsOnDrop));
    assert!(recv
        .as_mut()
        .poll(&mut Context::from_waker(&first))
        .is_pending());
    drop(first);
    // The stored waker is the last one: replacing it drops it.
    assert!(recv
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    let sender = UdpSocket::bind(any()).unwrap();
    sender
        .send_to(b"after", sock.local_addr().unwrap())
        .await
        .unwrap();
    let (n, _) = std::future::poll_fn(|cx| recv.as_mut().poll(cx))
        .await
        .unwrap();
    assert_eq!(n, 5);
    REENTER.with(|s| s.borrow_mut().take());
}

/// A waker that counts nothing; its `Arc`'s strong count tells whether
/// the runtime still holds it.
struct Held;

impl std::task::Wake for Held {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// A socket is dropped while a poll-based receive's waker is stored, and
/// while another socket still remembers it as the target of its loopback
/// hint: the runtime lets go of the waker at once (the remembered target
/// must not keep it, or the waiting task, alive).
#[test]
fn a_dropped_socket_lets_go_of_its_wakers_though_a_sender_remembers_it() {
    let _turn = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    tern::block_on(async {
        let sender = UdpSocket::bind(any()).unwrap();
        let receiver = UdpSocket::bind(any()).unwrap();
        let dest = receiver.local_addr().unwrap();
        // The sender's hint now remembers the receiver.
        sender.send_to(b"x", dest).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(receiver.recv_from(&mut buf).await.unwrap().0, 1);
        let held = std::sync::Arc::new(Held);
        let waker = std::task::Waker::from(held.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(receiver.poll_recv_from(&mut cx, &mut buf).is_pending());
        drop(waker);
        assert_eq!(
            std::sync::Arc::strong_count(&held),
            2,
            "the waker is stored"
        );
        drop(receiver);
        assert_eq!(
            std::sync::Arc::strong_count(&held),
            1,
            "the dropped socket's waker was kept"
        );
        assert_eq!(tern::current_metrics().unwrap().io_waiters, 0);
        drop(sender);
    });
}
