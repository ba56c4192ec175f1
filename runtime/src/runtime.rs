//! [`Runtime`], its [`Builder`], and the free functions that use the
//! current runtime.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::executor::{self, Core, Metrics, Options};
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
    /// This runtime holds the thread's timer slack at 1 ns.
    slack: bool,
}

impl Runtime {
    /// Creates a runtime with the default configuration: an epoll instance
    /// and an eventfd (two fds).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, running spawned tasks
    /// meanwhile.
    ///
    /// # Panics
    /// Inside another running runtime (nested `block_on`), and if `future`
    /// panics (the panic propagates after the tasks are dropped).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        // Refused before the core marks its shutdown hooks due: otherwise
        // dropping this runtime would run them with the outer one current.
        if crate::in_runtime() {
            panic!("{}", crate::context::NESTED_BLOCK_ON);
        }
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
        if self.slack {
            release_timer_slack();
        }
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
///
/// ```
/// let rt = tern_runtime::Runtime::builder()
///     .spin_before_park(false) // no busy-waiting: lower CPU, coarser timers
///     .timer_slack(false)      // leave the thread's timer slack alone
///     .build()?;
/// rt.block_on(tern_runtime::time::sleep(std::time::Duration::from_millis(1)));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    timed_wait: Option<TimedWait>,
    spin: bool,
    slack: bool,
    keep_alive: Option<Duration>,
    start_paused: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            timed_wait: None,
            spin: true,
            slack: true,
            keep_alive: None,
            start_paused: false,
        }
    }
}

thread_local! {
    /// Runtimes of this thread holding the timer slack at 1 ns, and the
    /// slack the thread had before the first of them.
    static SLACK: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

fn hold_timer_slack() {
    SLACK.with(|s| {
        let (holders, saved) = s.get();
        if holders == 0 {
            let old = crate::sys::thread::timer_slack().unwrap_or(DEFAULT_SLACK_NS);
            crate::sys::thread::set_timer_slack(1);
            s.set((1, old));
        } else {
            s.set((holders + 1, saved));
        }
    });
}

fn release_timer_slack() {
    SLACK.with(|s| {
        let (holders, saved) = s.get();
        if holders == 1 {
            crate::sys::thread::set_timer_slack(saved);
        }
        s.set((holders.saturating_sub(1), saved));
    });
}

/// Linux's default timer slack, assumed if it cannot be read.
const DEFAULT_SLACK_NS: u64 = 50_000;

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

    /// Whether an idle runtime may busy-wait before it blocks (default
    /// `true`): for the last 90 us before a timer deadline, so sleeps end
    /// on time even where the kernel's timed waits overshoot, and for up to
    /// 30 us while wake-ups from other threads are arriving quickly, so a
    /// request/response with another thread costs no thread wake-up. The
    /// cost is CPU: up to 90 us of spinning per timer deadline and 30 us
    /// per hot remote wake-up. Turned off, the runtime always blocks in
    /// epoll, and a `sleep(1ms)` ends when the kernel's wait does
    /// (about 1.06-1.1 ms here).
    pub fn spin_before_park(mut self, spin: bool) -> Builder {
        self.spin = spin;
        self
    }

    /// Whether the runtime sets its thread's timer slack to 1 ns while it
    /// exists (default `true`), so timed waits end when asked rather than
    /// up to 50 us later. The thread's previous slack is restored when the
    /// last such runtime of the thread is dropped. Costs no CPU of its own,
    /// but the kernel can batch fewer timer wake-ups of that thread.
    pub fn timer_slack(mut self, set: bool) -> Builder {
        self.slack = set;
        self
    }

    /// How long an idle thread of the `spawn_blocking` pool waits for work
    /// before it exits (default 10 s). The pool is shared by the whole
    /// process, so this sets it for every runtime.
    pub fn thread_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// Starts the runtime with its clock paused (see
    /// [`time::pause`](crate::time::pause)); default `false`.
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Creates the runtime.
    pub fn build(self) -> io::Result<Runtime> {
        if let Some(d) = self.keep_alive {
            crate::blocking::set_keep_alive(d);
        }
        let core = Core::new(Options {
            timed_wait: self.timed_wait,
            spin: self.spin,
        })?;
        if self.slack {
            hold_timer_slack();
        }
        if self.start_paused {
            core.timers().pause();
        }
        Ok(Runtime {
            core: Rc::new(core),
            slack: self.slack,
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

/// `block_on` on a fresh runtime whose clock starts paused; what
/// `#[tern::test(start_paused = true)]` expands to.
#[doc(hidden)]
pub fn block_on_paused<F: Future>(future: F) -> F::Output {
    Builder::new()
        .start_paused(true)
        .build()
        .unwrap_or_else(|e| panic!("tern::block_on: cannot create a runtime: {e}"))
        .block_on(future)
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
