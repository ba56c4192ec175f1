//! Unix signals as streams: [`signal`] and [`ctrl_c`].
//!
//! ```no_run
//! # tern_runtime::block_on(async {
//! use tern_runtime::signal::{signal, SignalKind};
//! let mut term = signal(SignalKind::terminate())?;
//! term.recv().await;
//! println!("SIGTERM: shutting down");
//! # std::io::Result::Ok(()) });
//! ```
//!
//! Deliveries arrive whichever thread the kernel picks to run the handler,
//! so other threads (the blocking pool, a user's threads) do not hide
//! them. Every [`Signal`] stream of a kind gets each delivery; deliveries
//! that come before a stream looks again are merged into one, as the
//! kernel merges them too. Once a kind has been listened for, its default
//! action (ending the process, for most) is replaced for the rest of the
//! process's life, as with tokio.
//!
//! # Implementation
//!
//! The handler in [`sys::signal`] sets a per-signal
//! flag and writes a byte to a self-pipe. Each `Signal` owns a duplicate of
//! the pipe's read end, registered with its runtime's reactor, and a
//! `Listener` in a process-wide list. Whichever stream reads bytes from the
//! pipe then *dispatches*: it takes each set flag and marks every listener
//! of that signal, waking its task (from any thread). Because a listener's
//! mark and waker sit under one lock and the flag is set before the byte
//! is written, a delivery is never lost between one stream draining the
//! pipe and another going to sleep.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use crate::io::{Direction, IoSource};
use crate::sys;

/// A kind of Unix signal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT` (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }
    /// `SIGTERM`.
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }
    /// `SIGHUP`.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }
    /// `SIGQUIT`.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }
    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }
    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }
    /// `SIGCHLD`.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }
    /// `SIGWINCH`.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }
    /// `SIGPIPE`.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }
    /// Any signal by number; [`signal`] rejects those that cannot be handled.
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({})", self.0)
    }
}

/// One stream's share of the deliveries.
struct Listener {
    signum: i32,
    state: Mutex<ListenerState>,
}

struct ListenerState {
    delivered: bool,
    waker: Option<Waker>,
}

impl Listener {
    fn lock(&self) -> MutexGuard<'_, ListenerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

static LISTENERS: Mutex<Vec<Weak<Listener>>> = Mutex::new(Vec::new());

/// Hands every flagged signal to all of its listeners.
fn dispatch() {
    let mut arrived = [false; sys::signal::NSIG];
    let mut any = false;
    for (sig, slot) in arrived.iter_mut().enumerate().skip(1) {
        *slot = sys::signal::take_pending(sig as i32);
        any |= *slot;
    }
    if !any {
        return;
    }
    let mut wakers = Vec::new();
    {
        let mut listeners = LISTENERS.lock().unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|weak| {
            let Some(l) = weak.upgrade() else {
                return false;
            };
            if arrived.get(l.signum as usize).copied().unwrap_or(false) {
                let mut st = l.lock();
                st.delivered = true;
                wakers.extend(st.waker.take());
            }
            true
        });
    }
    for w in wakers {
        w.wake();
    }
}

/// A stream of deliveries of one signal kind; see the module docs.
pub struct Signal {
    kind: SignalKind,
    listener: Arc<Listener>,
    pipe: IoSource,
}

/// Starts listening for `kind` on the current runtime.
///
/// Fails for signals that cannot be handled (`SIGKILL`, `SIGSTOP`,
/// `SIGILL`, `SIGFPE`, `SIGSEGV`, numbers out of range) and outside a
/// runtime.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signum = kind.as_raw_value();
    // Before the handler is installed: a refused call must leave the
    // signal's default action alone.
    if !crate::in_runtime() {
        return Err(io::Error::other(format!(
            "signal {signum}: signal streams must be created inside a tern runtime"
        )));
    }
    let fd = sys::signal::listen(signum)?;
    let pipe = IoSource::new(fd)?;
    let listener = Arc::new(Listener {
        signum,
        state: Mutex::new(ListenerState {
            delivered: false,
            waker: None,
        }),
    });
    let mut listeners = LISTENERS.lock().unwrap_or_else(PoisonError::into_inner);
    // Streams dropped with no delivery since would otherwise pile up here
    // (`ctrl_c()` in a `select!` loop makes one per turn).
    listeners.retain(|weak| weak.strong_count() > 0);
    listeners.push(Arc::downgrade(&listener));
    drop(listeners);
    Ok(Signal {
        kind,
        listener,
        pipe,
    })
}

/// Waits for the next `SIGINT` (Ctrl-C). From the first call on, Ctrl-C
/// no longer ends the process by itself.
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await;
    Ok(())
}

impl Signal {
    /// Waits for the next delivery (deliveries since the last `recv` count
    /// as one). Never gives `None` today; the `Option` is tokio's
    /// signature. Cancel-safe.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`recv`](Signal::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            {
                let mut st = self.listener.lock();
                if st.delivered {
                    st.delivered = false;
                    st.waker = None;
                    return Poll::Ready(Some(()));
                }
                match &mut st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
            }
            match self.pipe.poll_io(cx, Direction::Read, sys::signal::drain) {
                Poll::Ready(Ok(_)) => dispatch(),
                // Another stream drained the pipe first: its dispatch marks
                // this listener and wakes it.
                Poll::Pending => return Poll::Pending,
                // Not expected from a pipe; the flags still get looked at.
                Poll::Ready(Err(_)) => {
                    dispatch();
                    self.pipe.clear_ready(Direction::Read);
                    if !self.listener.lock().delivered {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// The kind this stream listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}
