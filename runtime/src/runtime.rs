//! [`Runtime`], its [`Builder`], and the free functions that use the
//! current runtime.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::executor::{self, Core, Metrics};
use crate::sys::epoll::TimedWait;
use crate::task::JoinHandle;

/// A single-threaded runtime: an executor parked on an epoll reactor, with
/// timers.
///
/// A runtime belongs to the thread that created it (it is neither `Send`
/// nor `Sync`). Tasks spawned on it run only while [`block_on`] runs; when
/// `block_on` returns, the tasks still pending are dropped (their
/// destructors run) and their handles report cancellation.
///
/// [`block_on`]: Runtime::block_on
pub struct Runtime {
    core: Rc<Core>,
}

impl Runtime {
    /// Creates a runtime: an epoll instance and an eventfd (two fds).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Runs `future` to completion on this thread, running spawned tasks
    /// meanwhile.
    ///
    /// # Panics
    /// Inside another running runtime (nested `block_on`), and if `future`
    /// panics (the panic propagates after the tasks are dropped).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future)
    }

    /// Spawns a task on this runtime; it first runs during a `block_on`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Counters describing this runtime.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// The timed-wait mechanism this runtime's reactor uses.
    pub fn timed_wait(&self) -> TimedWait {
        self.core.timed_wait()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        executor::shutdown(&self.core);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Configures a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct Builder {
    timed_wait: Option<TimedWait>,
}

thread_local! {
    static SLACK_SET: Cell<bool> = const { Cell::new(false) };
}

impl Builder {
    /// The default configuration.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Chooses how timed waits are made instead of detecting it: tests use
    /// this to exercise the `timerfd` fallback on kernels that have
    /// `epoll_pwait2`.
    pub fn timed_wait(mut self, mode: TimedWait) -> Builder {
        self.timed_wait = Some(mode);
        self
    }

    /// Creates the runtime.
    ///
    /// The first runtime of a thread sets the thread's timer slack to 1 ns
    /// (`PR_SET_TIMERSLACK`), so timed waits end when asked rather than up
    /// to 50 us later; the setting stays for the thread's life.
    pub fn build(self) -> io::Result<Runtime> {
        if !SLACK_SET.with(|s| s.replace(true)) {
            crate::sys::thread::set_timer_slack(1);
        }
        Ok(Runtime {
            core: Rc::new(Core::new(self.timed_wait)?),
        })
    }
}

/// Runs `future` to completion on a fresh runtime on this thread.
///
/// # Panics
/// Inside a running runtime, if the runtime cannot be created (no fds
/// left), and if `future` panics.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let rt =
        Runtime::new().unwrap_or_else(|e| panic!("tern::block_on: cannot create a runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task on the current runtime. The future need not be `Send`.
///
/// # Panics
/// Outside a runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    executor::spawn_current(future)
}

/// Lets every other task that is ready run before the caller continues.
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
