//! Dropping an operation part-way: [`poll_then_drop`] polls a future a
//! given number of times and drops it; [`full_listener`] gives a target
//! that connects can never reach, so they stay pending.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::task::Poll;

/// Polls `fut` until it is done or has been polled `polls` times, then
/// drops it. With `spurious`, it wakes itself after each poll, so it is
/// polled `polls` times whether or not anything happened.
pub async fn poll_then_drop<F: Future>(fut: F, polls: u32, spurious: bool) -> Option<F::Output> {
    let mut fut = Box::pin(fut);
    let mut n = 0;
    std::future::poll_fn(|cx| {
        n += 1;
        match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if n >= polls => Poll::Ready(None),
            Poll::Pending => {
                if spurious {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    })
    .await
}

/// A listening fd bound to `addr` with a backlog of 0 whose one queue slot
/// is taken, so connects to it stay pending (SYNs are dropped), and the
/// connection that fills it.
pub fn full_listener(addr: SocketAddr) -> (OwnedFd, std::net::TcpStream) {
    use tern::sys::socket::{bind, listen, local_addr, socket, SocketType};
    let fd = socket(&addr, SocketType::Stream).unwrap();
    bind(fd.as_fd(), &addr).unwrap();
    listen(fd.as_fd(), 0).unwrap();
    let filler = std::net::TcpStream::connect(local_addr(fd.as_fd()).unwrap()).unwrap();
    (fd, filler)
}
