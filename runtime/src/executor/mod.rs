//! The single-threaded executor: run queue, `block_on`'s loop, and parking
//! in the reactor.
//!
//! # Implementation
//!
//! A [`Core`] is owned (through an `Rc`) by its [`Runtime`](crate::Runtime);
//! while `block_on` runs, the [runtime context](crate::context) makes it the
//! *current* runtime so that `spawn`, I/O sources, timers and local
//! wake-ups find it.
//!
//! The run queue is a `VecDeque` of task pointers that gives back the room
//! of a past burst: each turn of the reactor, a queue using less than a
//! quarter of its capacity shrinks to twice its length (never below
//! [`RUN_QUEUE_KEEP`]), so 10,000 spawns in a row do not leave 128 KiB
//! behind once they have run, while a load that stays above a quarter of
//! its peak never reallocates. The `block_on` future is
//! scheduled through the same queue as a sentinel entry ([`main_marker`]), so it
//! takes its turn in FIFO order like any task. A waker called on the runtime
//! thread pushes straight onto the run queue (no lock, no syscall); a waker
//! called elsewhere goes through [`Shared`], holding its own count of it for
//! the whole push and notify, so a runtime that shuts down meanwhile cannot
//! free it under the waker's feet.
//!
//! The loop runs at most [`POLLS_PER_TURN`] entries, or up to a poll that
//! used up its task's cooperative budget, then turns the reactor: with a
//! zero timeout if work is left (so a busy task cannot starve I/O, timers
//! or remote wake-ups), or parked until the next event or timer
//! deadline. To honour sub-millisecond deadlines on kernels whose timed
//! waits overshoot, it parks until [`SPIN_MARGIN`] before the deadline and
//! spins the rest. And while wake-ups from other threads arrive quickly (a
//! blocking park ended by one within [`REMOTE_HOT`]), an idle runtime first
//! spins up to [`REMOTE_SPIN`] for the next one: a request/response with
//! another thread then costs no thread wake-up at all. A spin that catches
//! nothing turns this off until remote wake-ups are quick again. Both spins
//! can be turned off ([`Builder::spin_before_park`](crate::Builder::spin_before_park)).
//!
//! `block_on` shuts the core down when it returns or unwinds: every task
//! still pending is dropped with the core current, and only then is the
//! context cleared (the guards are declared in that order), so a panicking
//! destructor can neither skip the shutdown nor leave the context pointing
//! at a core that is gone.

mod owned;
mod shared;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use owned::OwnedTasks;
pub(crate) use shared::Shared;

use crate::context::{self, Enter};
use crate::reactor::Reactor;
use crate::sys::epoll::TimedWait;
use crate::task::raw::{self, Header, Schedule};
use crate::task::JoinHandle;
use crate::time::Timers;
use crate::unwind;

/// Run-queue entries polled between two turns of the reactor. It is the
/// figure tokio's current-thread scheduler uses (`event_interval`): a busy
/// runtime still sees I/O, timers and remote wake-ups within 61 polls, and
/// the zero-timeout `epoll_wait` of a busy turn (one syscall, ~250 ns)
/// costs about 4 ns per poll.
pub(crate) const POLLS_PER_TURN: u32 = 61;

/// How long before a timer deadline the runtime stops blocking in the
/// kernel and spins instead.
const SPIN_MARGIN: Duration = Duration::from_micros(90);

/// How long an idle runtime spins, waiting for a wake-up from another
/// thread, before it blocks in epoll; only while such wake-ups are hot.
const REMOTE_SPIN: Duration = Duration::from_micros(30);

/// A remote wake-up that ends a blocking park sooner than this makes the
/// next park spin first.
const REMOTE_HOT: Duration = Duration::from_micros(100);

/// Longest busy-wait before the reactor is checked again while spinning.
const SPIN_SLICE: Duration = Duration::from_micros(20);

/// Run-queue capacity kept however short the queue gets (2 KiB).
const RUN_QUEUE_KEEP: usize = 256;

/// The run-queue entry standing for the `block_on` future.
fn main_marker() -> NonNull<Header> {
    NonNull::dangling()
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
    /// Wakers of tasks waiting on I/O sources (all directions).
    pub io_waiters: usize,
}

/// How a core parks (set by the runtime's `Builder`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Detected when `None`.
    pub(crate) timed_wait: Option<TimedWait>,
    /// Spin before deadlines and for hot remote wake-ups.
    pub(crate) spin: bool,
}

/// The per-runtime state owned by the runtime thread.
#[derive(Debug)]
pub(crate) struct Core {
    /// Process-unique identity (see [`current_runtime_id`]).
    id: u64,
    shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<NonNull<Header>>>,
    main_scheduled: Cell<bool>,
    /// A `block_on` ran since the shutdown hooks last ran.
    hooks_due: Cell<bool>,
    owned: OwnedTasks,
    reactor: Rc<Reactor>,
    timers: Rc<Timers>,
    /// Buffer for the tasks taken from the inject queue.
    remote_woken: RefCell<Vec<NonNull<Header>>>,
    /// Buffer for the wakers of timers that fired.
    timer_wakers: RefCell<Vec<Waker>>,
    polls: Cell<u64>,
    turns: Cell<u64>,
    spin: bool,
    /// Remote wake-ups have been arriving quickly: spin before blocking.
    remote_hot: Cell<bool>,
    /// Strong counts of `shared` that tasks freed on this thread gave
    /// back, for the next spawns to take without an atomic operation; the
    /// core releases them when it is dropped (see [`LocalOrInject`]).
    spare_counts: Cell<usize>,
}

/// Whether the calling thread is inside `block_on`.
pub fn in_runtime() -> bool {
    context::with_core(|c| c.is_some())
}

/// A process-unique number identifying the current runtime, if the caller
/// is inside one. Numbers are never reused, so a per-runtime cache (a pool
/// of sockets, say) can tell that it was filled by another runtime.
pub fn current_runtime_id() -> Option<u64> {
    context::with_core(|c| c.map(|c| c.id))
}

/// Whether other tasks of the current runtime are queued to run before
/// the caller would run again if it yielded now; `false` outside a
/// runtime. Lets a task that is about to make a syscall others could
/// share (a send that wakes a server) wait for them only when there are
/// any.
pub fn others_ready() -> bool {
    context::with_core(|c| c.is_some_and(|c| !c.run_queue.borrow().is_empty()))
}

/// Counters of the current runtime, if the caller is inside one.
pub fn current_metrics() -> Option<Metrics> {
    context::with_core(|c| c.map(Core::metrics))
}

/// The [`Schedule`] policy of this executor's tasks: the run queue when
/// the caller is running the task's runtime, its inject queue otherwise.
struct LocalOrInject;

impl Schedule for LocalOrInject {
    fn schedule(task: NonNull<Header>) {
        // SAFETY: the reference being consumed keeps the task alive.
        let owner = unsafe { task.as_ref() }.owner as *const Shared;
        let task = context::with_core(|core| match core {
            Some(core) if ptr::eq(Arc::as_ptr(&core.shared), owner) => {
                core.run_queue.borrow_mut().push_back(task);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = task {
            // SAFETY: the task owns a strong count of `owner` (see
            // `Core::spawn`) and is alive while we hold its reference, so
            // the count is live now. We take a count of our own because the
            // reference moves to the inject queue in `push_remote`: from
            // then on the runtime may run, free the task and drop its last
            // count, while `push_remote` still has to notify.
            let shared = unsafe {
                Arc::increment_strong_count(owner);
                Arc::from_raw(owner)
            };
            shared.push_remote(task);
        }
    }

    fn release(owner: *const ()) {
        // Freed on its runtime's thread while the runtime runs: the count
        // goes back to the core for its next spawn (two atomic operations
        // fewer per task, about 20 ns here). The core outlives the call
        // (it is current) and releases its spares when dropped.
        let kept = context::with_core(|core| match core {
            Some(core) if ptr::eq(Arc::as_ptr(&core.shared), owner as *const Shared) => {
                core.spare_counts.set(core.spare_counts.get() + 1);
                true
            }
            _ => false,
        });
        if !kept {
            // SAFETY: `owner` is the strong count `Core::spawn` gave the
            // task.
            unsafe { Arc::decrement_strong_count(owner as *const Shared) };
        }
    }
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
    context::with_core(|core| match core {
        Some(core) => core.spawn(future),
        None => {
            panic!("tern::spawn called outside a tern runtime; call it from inside tern::block_on")
        }
    })
}

impl Core {
    pub(crate) fn new(options: Options) -> std::io::Result<Core> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared::new()?);
        let mode = options.timed_wait.unwrap_or_else(TimedWait::detect);
        let reactor = Reactor::new(mode, std::os::fd::AsRawFd::as_raw_fd(shared.wake_fd()))?;
        Ok(Core {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(64)),
            main_scheduled: Cell::new(false),
            hooks_due: Cell::new(false),
            owned: OwnedTasks::default(),
            reactor: Rc::new(reactor),
            timers: Rc::new(Timers::new()),
            remote_woken: RefCell::new(Vec::new()),
            timer_wakers: RefCell::new(Vec::new()),
            polls: Cell::new(0),
            turns: Cell::new(0),
            spin: options.spin,
            remote_hot: Cell::new(false),
            spare_counts: Cell::new(0),
        })
    }

    pub(crate) fn reactor(&self) -> &Rc<Reactor> {
        &self.reactor
    }

    pub(crate) fn timers(&self) -> &Rc<Timers> {
        &self.timers
    }

    pub(crate) fn timed_wait(&self) -> TimedWait {
        self.reactor.mode()
    }

    pub(crate) fn metrics(&self) -> Metrics {
        Metrics {
            tasks: self.owned.len(),
            io_sources: self.reactor.source_count(),
            timers: self.timers.len(),
            remote_unparks: self.shared.wake_writes(),
            polls: self.polls.get(),
            reactor_turns: self.turns.get(),
            io_waiters: self.reactor.waiter_count(),
        }
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // The task's strong count of `shared`: a spare one if a freed task
        // gave one back, else a new one.
        let owner = match self.spare_counts.get() {
            0 => Arc::into_raw(self.shared.clone()),
            n => {
                self.spare_counts.set(n - 1);
                Arc::as_ptr(&self.shared)
            }
        } as *const ();
        let task = raw::allocate::<F, LocalOrInject>(future, owner);
        self.owned.push(task);
        self.run_queue.borrow_mut().push_back(task);
        JoinHandle::new(task)
    }

    fn schedule_main(&self) {
        if !self.main_scheduled.replace(true) {
            self.run_queue.borrow_mut().push_back(main_marker());
        }
    }

    #[inline]
    fn pop(&self) -> Option<NonNull<Header>> {
        self.run_queue.borrow_mut().pop_front()
    }

    fn run_task(&self, task: NonNull<Header>) {
        context::reset_budget();
        // SAFETY: the run-queue entry owns a reference to a task of this
        // runtime, and we are on its thread.
        let completed = unsafe { raw::run(task) };
        if completed {
            self.owned.remove(task);
            // SAFETY: the live-task list's reference, taken over by
            // remove, and the run-queue entry's.
            unsafe { raw::drop_two_refs(task) };
        } else {
            // SAFETY: the run-queue entry's reference.
            unsafe { raw::drop_ref(task) };
        }
    }

    /// Runs `future` to completion on this thread, with this core current.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.hooks_due.set(true);
        // Dropped in reverse order: the shutdown runs first, with the core
        // still current, and the context is cleared last, even if the
        // shutdown or the future unwinds.
        let _enter = Enter::new(self);
        let _shutdown = ShutdownOnDrop(self);
        let mut future = pin!(future);
        let waker = main_waker(&self.shared);
        let mut cx = Context::from_waker(&waker);
        self.schedule_main();
        loop {
            let mut polls = 0;
            while polls < POLLS_PER_TURN {
                let Some(task) = self.pop() else { break };
                polls += 1;
                if task == main_marker() {
                    self.main_scheduled.set(false);
                    context::reset_budget();
                    if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                        self.polls.set(self.polls.get() + u64::from(polls));
                        return v;
                    }
                } else {
                    self.run_task(task);
                }
                // A poll that used up its budget (a task that had more to
                // do than the budget allows, and yielded) ends the pass:
                // I/O, timers and remote wake-ups are collected before it
                // runs again, as tokio defers such a task until its driver
                // has been polled. Otherwise a lone busy task would run 61
                // budgets' worth (7,808 operations) between two looks at
                // the reactor, and sockets whose readiness waits there
                // would stall behind it.
                if !context::has_budget() {
                    break;
                }
            }
            self.polls.set(self.polls.get() + u64::from(polls));
            self.turn();
        }
    }

    /// One turn of the reactor and timers; blocks if there is no work.
    fn turn(&self) {
        self.turns.set(self.turns.get() + 1);
        self.trim_run_queue();
        let has_timers = self.timers.len() > 0;
        if !self.run_queue.borrow().is_empty() {
            // Work is waiting: collect I/O without blocking. With no source
            // registered there is nothing epoll could report that the
            // remote-wake flag does not already tell.
            if self.reactor.source_count() > 0 {
                self.poll_reactor(Some(Duration::ZERO));
            }
            self.drain_remote();
        } else {
            match self.timers.next_deadline() {
                None => self.park(None),
                Some(deadline) if self.timers.is_paused() => self.auto_advance(deadline),
                Some(deadline) => self.park_until(deadline),
            }
        }
        if has_timers {
            self.fire_timers(self.timers.now());
        }
    }

    /// Gives back the run queue's room once a burst has drained (see the
    /// module docs): the queue shrinks geometrically, so the copying costs
    /// no more than the growth did.
    fn trim_run_queue(&self) {
        let mut queue = self.run_queue.borrow_mut();
        let capacity = queue.capacity();
        let len = queue.len();
        if capacity > RUN_QUEUE_KEEP && len < capacity / 4 {
            queue.shrink_to(RUN_QUEUE_KEEP.max(len * 2));
        }
    }

    /// With the clock paused and nothing to run: collects ready I/O and
    /// wake-ups without blocking, and if they bring no work either, moves
    /// the clock to the next timer's `deadline`.
    fn auto_advance(&self, deadline: Instant) {
        self.park(Some(Duration::ZERO));
        if self.run_queue.borrow().is_empty() {
            self.timers.advance_to(deadline);
        }
    }

    /// Parks until `deadline` (on the runtime's clock) at the latest: in
    /// the kernel until `SPIN_MARGIN` before it, then spinning (unless
    /// spinning is off).
    fn park_until(&self, deadline: Instant) {
        let Some(left) = deadline.checked_duration_since(self.timers.now()) else {
            return self.park(Some(Duration::ZERO));
        };
        if !self.spin {
            return self.park(Some(left));
        }
        if left > SPIN_MARGIN {
            return self.park(Some(left - SPIN_MARGIN));
        }
        self.park(Some(Duration::ZERO));
        if self.run_queue.borrow().is_empty() {
            self.spin_until(Instant::now() + left.min(SPIN_SLICE));
        }
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
                .set(self.spin && self.shared.has_remote() && start.elapsed() < REMOTE_HOT);
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
        let mut woken = self.remote_woken.borrow_mut();
        let main = self.shared.drain(&mut woken);
        self.run_queue.borrow_mut().extend(woken.drain(..));
        drop(woken);
        if main {
            self.schedule_main();
        }
    }

    fn fire_timers(&self, now: Instant) {
        let mut fired = std::mem::take(&mut *self.timer_wakers.borrow_mut());
        self.timers.fire(now, &mut fired);
        for w in fired.drain(..) {
            unwind::wake(w);
        }
        *self.timer_wakers.borrow_mut() = fired;
    }

    /// Drops every task that has not completed (their destructors run, in
    /// the context of this runtime) and every queued reference. Panics in
    /// destructors are caught (see `task::raw`), so this does not unwind.
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
        // The runtime is still current: per-runtime caches kept in
        // thread-locals let go of what belongs to it (once per `block_on`:
        // dropping the runtime after it shuts down again).
        if !self.hooks_due.replace(false) {
            return;
        }
        let hooks = SHUTDOWN_HOOKS.with(|h| h.borrow().clone());
        for hook in hooks {
            unwind::catch(hook);
        }
    }
}

thread_local! {
    /// Functions run by every runtime of this thread as it shuts down.
    static SHUTDOWN_HOOKS: std::cell::RefCell<Vec<fn()>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers `hook` to run on this thread each time a runtime's `block_on`
/// returns (or unwinds), after the runtime's tasks are dropped and while it
/// is still current ([`current_runtime_id`] names it). For caches that keep per-runtime
/// resources in thread-locals, such as the DNS resolver's idle sockets: they
/// go with their runtime instead of holding its reactor open. A hook
/// registered again is not added twice; a panic in a hook is caught.
pub fn on_shutdown(hook: fn()) {
    SHUTDOWN_HOOKS.with(|h| {
        let mut h = h.borrow_mut();
        if !h.iter().any(|&f| std::ptr::fn_addr_eq(f, hook)) {
            h.push(hook);
        }
    });
}

impl Drop for Core {
    fn drop(&mut self) {
        // Tasks are gone (shutdown ran when the last block_on returned, and
        // on Runtime drop); refuse remote pushes from now on.
        for task in self.shared.close() {
            // SAFETY: each inject entry owns a reference.
            unsafe { raw::drop_ref(task) };
        }
        // The counts freed tasks gave back (none can come back now: the
        // core is not current, so a task freed later releases its own).
        for _ in 0..self.spare_counts.replace(0) {
            // SAFETY: each spare is a strong count of `shared` taken by a
            // spawn and handed back by its task; `self.shared` holds one
            // more until the fields drop.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.shared)) };
        }
    }
}

/// Shuts the core down when `block_on` returns or unwinds.
struct ShutdownOnDrop<'a>(&'a Core);

impl Drop for ShutdownOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// Drops the tasks of `core` with it current (used when a runtime is
/// dropped outside `block_on`). Inside another runtime the tasks are
/// dropped with that one current.
pub(crate) fn shutdown(core: &Core) {
    if in_runtime() {
        core.shutdown();
        return;
    }
    let _enter = Enter::new(core);
    core.shutdown();
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
    context::with_core(|core| match core {
        Some(core) if ptr::eq(Arc::as_ptr(&core.shared), shared) => core.schedule_main(),
        // SAFETY: the waker holds a strong count, so Shared is alive for
        // this whole call.
        _ => unsafe { &*shared }.wake_main_remote(),
    })
}

unsafe fn main_drop(data: *const ()) {
    // SAFETY: the waker owned this strong count.
    unsafe { Arc::decrement_strong_count(data as *const Shared) };
}
