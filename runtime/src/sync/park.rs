//! Waiting on a sync future from a plain thread: the `blocking_*`
//! methods of the channels park the calling thread until the future's
//! waker unparks it. No runtime is involved (none is created).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on the calling thread, parking it while the
/// future is pending.
///
/// # Panics
/// Inside a tern runtime (`what` names the method in the message): it
/// would block the runtime's thread.
pub(crate) fn wait<F: Future>(what: &str, fut: F) -> F::Output {
    if crate::in_runtime() {
        panic!("{what} called inside a tern runtime, where it would block the runtime thread; use the async method");
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
