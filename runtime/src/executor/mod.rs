//! The single-threaded executor: run queue, `block_on`'s loop, and parking
//! in the reactor.
//!
//! # Implementation
//!
//! A [`Core`] is owned (through an `Rc`) by its [`Runtime`](crate::Runtime);
//! while `block_on` runs, a thread-local pointer makes it the *current*
//! runtime so that `spawn`, I/O sources, timers and local wake-ups find it.
//!
//! The run queue is a `VecDeque` of task pointers. The `block_on` future is
//! scheduled through the same queue as a sentinel entry ([`main_marker`]), so it
//! takes its turn in FIFO order like any task. A waker called on the runtime
//! thread pushes straight onto the run queue (no lock, no syscall); a waker
//! called elsewhere goes through [`Shared`].
//!
//! The loop runs at most [`BUDGET`] entries, then turns the reactor: with a
//! zero timeout if work is left (so a busy task cannot starve I/O, timers or
//! remote wake-ups), or parked until the next event or timer deadline. It
//! never parks while a UDP socket that was assumed drained has a waiting
//! reader: it verifies such sockets first, and at least every
//! [`VERIFY_EVERY`] turns when it stays busy (see the reactor's docs). To
//! honour sub-millisecond deadlines on kernels whose timed waits overshoot,
//! it parks until [`SPIN_MARGIN`] before the deadline and spins the rest.
//! And while wake-ups from other threads arrive quickly (a blocking park
//! ended by one within [`REMOTE_HOT`]), an idle runtime first spins up to
//! [`REMOTE_SPIN`] for the next one: a request/response with another
//! thread then costs no thread wake-up at all. A spin that catches nothing
//! turns this off until remote wake-ups are quick again.

mod owned;
mod shared;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use owned::OwnedTasks;
pub(crate) use shared::Shared;

use crate::reactor::Reactor;
use crate::sys::epoll::TimedWait;
use crate::task::raw::{self, Header};
use crate::task::JoinHandle;
use crate::time::heap::TimerHeap;

/// Task polls between two turns of the reactor.
pub(crate) const BUDGET: u32 = 61;

/// How long before a timer deadline the runtime stops blocking in the
/// kernel and spins instead.
const SPIN_MARGIN: Duration = Duration::from_micros(90);

/// Reactor turns after which assumed-drained sources are verified even if
/// the runtime never runs out of work.
const VERIFY_EVERY: u32 = 8;

/// How long an idle runtime spins, waiting for a wake-up from another
/// thread, before it blocks in epoll; only while such wake-ups are hot.
const REMOTE_SPIN: Duration = Duration::from_micros(30);

/// A remote wake-up that ends a blocking park sooner than this makes the
/// next park spin first.
const REMOTE_HOT: Duration = Duration::from_micros(100);

/// Longest busy-wait before the reactor is checked again while spinning.
const SPIN_SLICE: Duration = Duration::from_micros(20);

/// The run-queue entry standing for the `block_on` future.
fn main_marker() -> NonNull<Header> {
    NonNull::dangling()
}

/// The timer heap of a runtime, shared with its [`Sleep`](crate::time::Sleep)s.
#[derive(Debug)]
pub(crate) struct Timers {
    pub(crate) heap: RefCell<TimerHeap>,
}

/// Counters describing a runtime, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Spawned tasks that have not completed.
    pub tasks: usize,
    /// Registered I/O sources.
    pub io_sources: usize,
    /// Timers waiting to fire.
    pub timers: usize,
    /// Eventfd writes made to unpark this runtime from other threads.
    pub remote_unparks: u64,
    /// Task and `block_on` polls so far.
    pub polls: u64,
    /// Turns of the reactor (epoll waits, blocking or not) so far.
    pub reactor_turns: u64,
}

/// The per-runtime state owned by the runtime thread.
#[derive(Debug)]
pub(crate) struct Core {
    /// Process-unique identity (see [`current_runtime_id`]).
    id: u64,
    shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<NonNull<Header>>>,
    main_scheduled: Cell<bool>,
    owned: OwnedTasks,
    reactor: Rc<Reactor>,
    timers: Rc<Timers>,
    drained: RefCell<Vec<NonNull<Header>>>,
    fired: RefCell<Vec<Waker>>,
    polls: Cell<u64>,
    turns: Cell<u64>,
    turns_since_verify: Cell<u32>,
    /// Remote wake-ups have been arriving quickly: spin before blocking.
    remote_hot: Cell<bool>,
}

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

fn with_current<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    CURRENT.with(|c| {
        let p = c.get();
        // SAFETY: CURRENT is non-null only while `enter`'s guard lives, and
        // the guard borrows the Core, so the pointer is valid.
        f(unsafe { p.as_ref() })
    })
}

/// The current runtime's reactor, if there is one.
pub(crate) fn current_reactor() -> Option<Rc<Reactor>> {
    with_current(|c| c.map(|c| c.reactor.clone()))
}

/// The current runtime's timers, if there is one.
pub(crate) fn current_timers() -> Option<Rc<Timers>> {
    with_current(|c| c.map(|c| c.timers.clone()))
}

/// Whether the calling thread is inside `block_on`.
pub fn in_runtime() -> bool {
    with_current(|c| c.is_some())
}

/// A process-unique number identifying the current runtime, if the caller
/// is inside one. Numbers are never reused, so a per-runtime cache (a pool
/// of sockets, say) can tell that it was filled by another runtime.
pub fn current_runtime_id() -> Option<u64> {
    with_current(|c| c.map(|c| c.id))
}

/// Counters of the current runtime, if the caller is inside one.
pub fn current_metrics() -> Option<Metrics> {
    with_current(|c| c.map(Core::metrics))
}

/// Queues a woken task (consumes one reference): on the run queue if this
/// thread is running the task's runtime, else on its inject queue.
pub(crate) fn schedule(task: NonNull<Header>) {
    // SAFETY: the reference being consumed keeps the task alive.
    let shared = unsafe { task.as_ref() }.shared;
    with_current(|core| match core {
        Some(core) if ptr::eq(Arc::as_ptr(&core.shared), shared) => {
            core.run_queue.borrow_mut().push_back(task);
        }
        // SAFETY: the task owns a strong count of its Shared.
        _ => unsafe { &*shared }.push_remote(task),
    })
}

/// Spawns onto the current runtime.
///
/// # Panics
/// Outside a runtime.
pub(crate) fn spawn_current<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|core| match core {
        Some(core) => core.spawn(future),
        None => {
            panic!("tern::spawn called outside a tern runtime; call it from inside tern::block_on")
        }
    })
}

impl Core {
    pub(crate) fn new(mode: Option<TimedWait>) -> std::io::Result<Core> {
        let shared = Arc::new(Shared::new()?);
        let mode = mode.unwrap_or_else(TimedWait::detect);
        let reactor = Reactor::new(mode, std::os::fd::AsRawFd::as_raw_fd(shared.wake_fd()))?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Core {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(64)),
            main_scheduled: Cell::new(false),
            owned: OwnedTasks::default(),
            reactor: Rc::new(reactor),
            timers: Rc::new(Timers {
                heap: RefCell::new(TimerHeap::new(Instant::now())),
            }),
            drained: RefCell::new(Vec::new()),
            fired: RefCell::new(Vec::new()),
            polls: Cell::new(0),
            turns: Cell::new(0),
            turns_since_verify: Cell::new(0),
            remote_hot: Cell::new(false),
        })
    }

    pub(crate) fn timed_wait(&self) -> TimedWait {
        self.reactor.mode()
    }

    pub(crate) fn metrics(&self) -> Metrics {
        Metrics {
            tasks: self.owned.len(),
            io_sources: self.reactor.source_count(),
            timers: self.timers.heap.borrow().len(),
            remote_unparks: self.shared.wake_writes(),
            polls: self.polls.get(),
            reactor_turns: self.turns.get(),
        }
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = raw::allocate(future, &self.shared);
        self.owned.push(task);
        self.run_queue.borrow_mut().push_back(task);
        JoinHandle::new(task)
    }

    fn schedule_main(&self) {
        if !self.main_scheduled.replace(true) {
            self.run_queue.borrow_mut().push_back(main_marker());
        }
    }

    fn wake_main(&self) {
        self.schedule_main();
    }

    #[inline]
    fn pop(&self) -> Option<NonNull<Header>> {
        self.run_queue.borrow_mut().pop_front()
    }

    fn run_task(&self, task: NonNull<Header>) {
        // SAFETY: the run-queue entry owns a reference to a task of this
        // runtime, and we are on its thread.
        let completed = unsafe { raw::run(task) };
        if completed {
            self.owned.remove(task);
            // SAFETY: the live-task list's reference, taken over by remove.
            unsafe { raw::drop_ref(task) };
        }
        // SAFETY: the run-queue entry's reference.
        unsafe { raw::drop_ref(task) };
    }

    /// Runs `future` to completion on this thread, with this core current.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = Enter::new(self);
        let mut future = pin!(future);
        let waker = main_waker(&self.shared);
        let mut cx = Context::from_waker(&waker);
        self.schedule_main();
        loop {
            let mut polls = 0;
            while polls < BUDGET {
                let Some(task) = self.pop() else { break };
                polls += 1;
                if task == main_marker() {
                    self.main_scheduled.set(false);
                    if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                        self.polls.set(self.polls.get() + u64::from(polls));
                        return v;
                    }
                } else {
                    self.run_task(task);
                }
            }
            self.polls.set(self.polls.get() + u64::from(polls));
            self.turn();
        }
    }

    /// One turn of the reactor and timers; blocks if there is no work.
    fn turn(&self) {
        self.turns.set(self.turns.get() + 1);
        let has_timers = self.timers.heap.borrow().len() > 0;
        if self.reactor.has_unverified() && self.check_unverified() {
            if has_timers {
                self.fire_timers(Instant::now());
            }
            return;
        }
        if !self.run_queue.borrow().is_empty() {
            // Work is waiting: collect I/O without blocking. With no source
            // registered there is nothing epoll could report that the
            // remote-wake flag does not already tell.
            if self.reactor.source_count() > 0 {
                self.poll_reactor(Some(Duration::ZERO));
            }
            self.drain_remote();
        } else {
            let next = self.timers.heap.borrow().next_deadline();
            match next {
                None => self.park(None),
                Some(deadline) => {
                    let now = Instant::now();
                    match deadline.checked_duration_since(now) {
                        None => self.park(Some(Duration::ZERO)),
                        Some(left) if left > SPIN_MARGIN => self.park(Some(left - SPIN_MARGIN)),
                        Some(_) => {
                            self.park(Some(Duration::ZERO));
                            if self.run_queue.borrow().is_empty() {
                                self.spin_until(deadline.min(now + SPIN_SLICE));
                            }
                        }
                    }
                }
            }
        }
        if has_timers {
            self.fire_timers(Instant::now());
        }
    }

    /// Collects events without blocking, then verifies assumed-drained
    /// sources if that found no work or they have waited `VERIFY_EVERY`
    /// turns. Returns true if there is work to run (the turn is done).
    fn check_unverified(&self) -> bool {
        self.poll_reactor(Some(Duration::ZERO));
        self.drain_remote();
        let waited = self.turns_since_verify.get() + 1;
        if self.run_queue.borrow().is_empty() || waited >= VERIFY_EVERY {
            self.turns_since_verify.set(0);
            self.reactor.verify();
        } else {
            self.turns_since_verify.set(waited);
        }
        !self.run_queue.borrow().is_empty()
    }

    fn spin_until(&self, until: Instant) {
        while Instant::now() < until && !self.shared.has_remote() {
            std::hint::spin_loop();
        }
    }

    fn park(&self, timeout: Option<Duration>) {
        let mut timeout = timeout;
        if timeout != Some(Duration::ZERO) && self.remote_hot.get() {
            let spun = Instant::now();
            if self.spin_for_remote(timeout) {
                // A remote wake-up came while spinning: no syscall needed.
                self.drain_remote();
                return;
            }
            timeout = timeout.map(|t| t.saturating_sub(spun.elapsed()));
        }
        if timeout == Some(Duration::ZERO) {
            self.poll_reactor(timeout);
        } else {
            let timeout = if self.shared.park_begin() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            let start = Instant::now();
            self.poll_reactor(timeout);
            self.shared.park_end();
            // Another thread is answering quickly (a request/response with
            // a std thread or the blocking pool): spin next time instead of
            // paying two thread wake-ups per exchange.
            self.remote_hot
                .set(self.shared.has_remote() && start.elapsed() < REMOTE_HOT);
        }
        self.drain_remote();
    }

    /// Busy-waits up to `REMOTE_SPIN` (and never past `timeout`) for a
    /// wake-up from another thread. Returns true if one came; otherwise
    /// stops spinning until remote wake-ups are hot again.
    fn spin_for_remote(&self, timeout: Option<Duration>) -> bool {
        let spin = timeout.map_or(REMOTE_SPIN, |t| t.min(REMOTE_SPIN));
        let until = Instant::now() + spin;
        while !self.shared.has_remote() {
            if Instant::now() >= until {
                self.remote_hot.set(false);
                return false;
            }
            std::hint::spin_loop();
        }
        true
    }

    fn poll_reactor(&self, timeout: Option<Duration>) {
        if let Err(e) = self.reactor.poll(timeout) {
            panic!("tern: epoll wait failed: {e}");
        }
    }

    fn drain_remote(&self) {
        if !self.shared.has_remote() {
            return;
        }
        let mut drained = self.drained.borrow_mut();
        let main = self.shared.drain(&mut drained);
        self.run_queue.borrow_mut().extend(drained.drain(..));
        drop(drained);
        if main {
            self.wake_main();
        }
    }

    fn fire_timers(&self, now: Instant) {
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        self.timers.heap.borrow_mut().fire(now, &mut fired);
        for w in fired.drain(..) {
            w.wake();
        }
        *self.fired.borrow_mut() = fired;
    }

    /// Drops every task that has not completed (their destructors run, in
    /// the context of this runtime) and every queued reference.
    fn shutdown(&self) {
        loop {
            while let Some(task) = self.owned.pop() {
                // SAFETY: the list's reference (now ours) keeps it alive; we
                // are on the runtime thread.
                unsafe { raw::cancel_now(task) };
                // SAFETY: the list's reference is released.
                unsafe { raw::drop_ref(task) };
            }
            let queued: Vec<_> = self.run_queue.borrow_mut().drain(..).collect();
            let mut remote = Vec::new();
            self.shared.drain(&mut remote);
            for task in queued.into_iter().chain(remote) {
                if task != main_marker() {
                    // SAFETY: each queue entry owns a reference.
                    unsafe { raw::drop_ref(task) };
                }
            }
            self.main_scheduled.set(false);
            if self.owned.len() == 0 && self.run_queue.borrow().is_empty() {
                break;
            }
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Tasks are gone (shutdown ran when the last block_on returned, and
        // on Runtime drop); refuse remote pushes from now on.
        for task in self.shared.close() {
            // SAFETY: each inject entry owns a reference.
            unsafe { raw::drop_ref(task) };
        }
    }
}

/// Makes a core current for the duration of `block_on` (or a shutdown).
struct Enter<'a> {
    core: &'a Core,
}

impl<'a> Enter<'a> {
    fn new(core: &'a Core) -> Enter<'a> {
        CURRENT.with(|c| {
            if !c.get().is_null() {
                panic!(
                    "tern::block_on called inside a running tern runtime; \
                     nested block_on would block the runtime thread (use .await or tern::spawn)"
                );
            }
            c.set(core);
        });
        Enter { core }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        self.core.shutdown();
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

/// Drops the tasks of `core` with it current (used when a runtime is
/// dropped outside `block_on`). Does nothing inside another runtime.
pub(crate) fn shutdown(core: &Core) {
    if in_runtime() {
        core.shutdown();
        return;
    }
    drop(Enter::new(core));
}

// ===== the block_on future's waker =====

static MAIN_WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(main_clone, main_wake, main_wake_by_ref, main_drop);

fn main_waker(shared: &Arc<Shared>) -> Waker {
    let data = Arc::into_raw(shared.clone()) as *const ();
    // SAFETY: the data pointer is an Arc<Shared> strong count, which the
    // vtable functions manage.
    unsafe { Waker::from_raw(RawWaker::new(data, &MAIN_WAKER_VTABLE)) }
}

unsafe fn main_clone(data: *const ()) -> RawWaker {
    // SAFETY: data is an Arc<Shared> pointer owned by the waker being cloned.
    unsafe { Arc::increment_strong_count(data as *const Shared) };
    RawWaker::new(data, &MAIN_WAKER_VTABLE)
}

unsafe fn main_wake(data: *const ()) {
    // SAFETY: the waker's strong count is borrowed here and released below.
    unsafe { main_wake_by_ref(data) };
    // SAFETY: the waker owned this count.
    unsafe { main_drop(data) };
}

unsafe fn main_wake_by_ref(data: *const ()) {
    let shared = data as *const Shared;
    with_current(|core| match core {
        Some(core) if ptr::eq(Arc::as_ptr(&core.shared), shared) => core.wake_main(),
        // SAFETY: the waker holds a strong count, so Shared is alive.
        _ => unsafe { &*shared }.wake_main_remote(),
    })
}

unsafe fn main_drop(data: *const ()) {
    // SAFETY: the waker owned this strong count.
    unsafe { Arc::decrement_strong_count(data as *const Shared) };
}
