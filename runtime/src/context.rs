//! The runtime context of the calling thread: which core is running, its
//! reactor and timers, and the cooperative budget of the task being polled.
//!
//! Timers, I/O sources and the executor reach the current runtime here and
//! never by importing each other, as tokio's `runtime/context.rs` does.
//!
//! # Implementation
//!
//! One thread-local [`Context`] holds raw pointers to the current [`Core`]
//! and, for cheap identity checks, to its reactor and timers. They are set
//! by [`Enter::new`] and cleared by its `Drop`, which runs last even when a
//! shutdown unwinds, so a pointer here always refers to a live core: the
//! guard borrows the core for its whole life.
//!
//! The budget counts operations of the task (or `block_on` future) being
//! polled: the executor sets it before each poll, and every
//! [`IoSource`](crate::io::IoSource) operation, channel, oneshot or watch
//! receive, bounded channel send, semaphore (and so mutex) acquisition, join (a `JoinHandle`, or
//! a `JoinSet`'s output), sleep or [`cooperative`](crate::cooperative) future that
//! *completes* spends one unit. Once it has run out, such an operation wakes its own task and
//! returns `Pending` without trying, so a task whose I/O is always ready (a
//! fast peer) yields to timers and other tasks after [`BUDGET`] operations,
//! as tokio's coop budget does. An operation that finds nothing to do
//! spends nothing (tokio's `RestoreOnPending`): a task that polls more
//! waiting sources than its budget each time it runs still reaches the
//! last of them.

use std::cell::Cell;
use std::ptr;
use std::rc::Rc;

use crate::executor::Core;
use crate::reactor::Reactor;
use crate::time::Timers;

/// I/O operations a task may complete in one poll before it is made to
/// yield (tokio uses the same figure).
pub(crate) const BUDGET: u32 = 128;

struct Context {
    core: Cell<*const Core>,
    reactor: Cell<*const Reactor>,
    timers: Cell<*const Timers>,
    budget: Cell<u32>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            core: Cell::new(ptr::null()),
            reactor: Cell::new(ptr::null()),
            timers: Cell::new(ptr::null()),
            budget: Cell::new(BUDGET),
        }
    };
}

/// The panic of a `block_on` inside a running runtime.
pub(crate) const NESTED_BLOCK_ON: &str = "tern::block_on called inside a running tern runtime; \
     nested block_on would block the runtime thread (use .await or tern::spawn)";

/// Runs `f` with the current core, if this thread is inside `block_on`.
///
/// Only the pointer is read inside the thread-local access, so that access
/// stays small enough to be inlined; `f` (a wake-up's run-queue push) runs
/// after it.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let p = CONTEXT.with(|c| c.core.get());
    // SAFETY: `core` is non-null only while an `Enter` guard lives, and the
    // guard borrows the Core, so the pointer is valid (module docs). `f`
    // runs on this thread, below the `block_on` frame that owns the guard,
    // so the guard outlives the call.
    f(unsafe { p.as_ref() })
}

/// The current runtime's reactor, if there is one.
pub(crate) fn reactor() -> Option<Rc<Reactor>> {
    with_core(|c| c.map(|c| c.reactor().clone()))
}

/// The current runtime's timers, if there is one.
pub(crate) fn timers() -> Option<Rc<Timers>> {
    with_core(|c| c.map(|c| c.timers().clone()))
}

/// Whether `timers` are the current runtime's.
pub(crate) fn is_current_timers(timers: &Rc<Timers>) -> bool {
    CONTEXT.with(|c| ptr::eq(c.timers.get(), Rc::as_ptr(timers)))
}

/// Whether `reactor` is the current runtime's.
pub(crate) fn is_current_reactor(reactor: &Rc<Reactor>) -> bool {
    CONTEXT.with(|c| ptr::eq(c.reactor.get(), Rc::as_ptr(reactor)))
}

/// What an I/O operation on a source of `reactor` may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go ahead (one unit of budget was spent).
    Go,
    /// The task used up its budget: yield.
    Yield,
    /// The source belongs to a runtime that is not running on this thread.
    Foreign,
}

/// Checks that `reactor` is the current one and that the polled task has
/// budget left; the operation, if it completes, then [`spend`]s a unit.
#[inline]
pub(crate) fn admit_io(reactor: &Rc<Reactor>) -> Admit {
    CONTEXT.with(|c| {
        if !ptr::eq(c.reactor.get(), Rc::as_ptr(reactor)) {
            return Admit::Foreign;
        }
        match c.budget.get() {
            0 => Admit::Yield,
            _ => Admit::Go,
        }
    })
}

/// For an operation that is not I/O (a channel receive, a
/// [`cooperative`](crate::cooperative) future): `Pending`, with the task
/// re-woken, once the polled task's budget is spent; the operation, if it
/// completes, then [`spend`]s a unit. Outside a runtime there is no
/// budget.
#[inline]
pub(crate) fn poll_budget(cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
    CONTEXT.with(|c| {
        if c.core.get().is_null() || c.budget.get() > 0 {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
}

/// Whether the polled task has budget left (always, outside a runtime).
#[inline]
pub(crate) fn has_budget() -> bool {
    CONTEXT.with(|c| c.core.get().is_null() || c.budget.get() > 0)
}

/// Spends one unit of the polled task's budget: an admitted operation
/// completed. (Outside a runtime the count is never read.)
#[inline]
pub(crate) fn spend() {
    CONTEXT.with(|c| c.budget.set(c.budget.get().saturating_sub(1)));
}

/// `poll`, having spent one unit of budget if it is ready.
#[inline]
pub(crate) fn charge<T>(poll: std::task::Poll<T>) -> std::task::Poll<T> {
    if poll.is_ready() {
        spend();
    }
    poll
}

/// Gives the task about to be polled a fresh budget.
#[inline]
pub(crate) fn reset_budget() {
    CONTEXT.with(|c| c.budget.set(BUDGET));
}

/// Makes a core current for the duration of `block_on` (or a shutdown).
pub(crate) struct Enter<'a> {
    _core: std::marker::PhantomData<&'a Core>,
}

impl<'a> Enter<'a> {
    /// Makes `core` current.
    ///
    /// # Panics
    /// If another core is current on this thread (nested `block_on`).
    pub(crate) fn new(core: &'a Core) -> Enter<'a> {
        CONTEXT.with(|c| {
            if !c.core.get().is_null() {
                panic!("{NESTED_BLOCK_ON}");
            }
            c.core.set(core);
            c.reactor.set(Rc::as_ptr(core.reactor()));
            c.timers.set(Rc::as_ptr(core.timers()));
            c.budget.set(BUDGET);
        });
        Enter {
            _core: std::marker::PhantomData,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CONTEXT.with(|c| {
            c.core.set(ptr::null());
            c.reactor.set(ptr::null());
            c.timers.set(ptr::null());
        });
    }
}
