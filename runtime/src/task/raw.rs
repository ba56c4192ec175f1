//! The raw task: one allocation holding a header, then the future, then
//! (in the same slot) its output.
//!
//! # Implementation
//!
//! ```text
//!   TaskCell<F> (repr(C), one Box)
//!   +---------------------------------------------------+
//!   | Header (40 bytes)                                 |
//!   |   state: AtomicUsize   8  flags + refcount        |
//!   |   vtable: &Vtable      8  monomorphised fns       |
//!   |   owner: *const ()     8  runtime's remote half   |
//!   |   prev/next           16  live-task list          |
//!   +---------------------------------------------------+
//!   | stage: union { F, Result<F::Output, JoinError> }  |
//!   |   which one (or none) is live: COMPLETE / OUTPUT  |
//!   +---------------------------------------------------+
//! ```
//!
//! A task whose future is 16 bytes (an `Rc` and the state of an `async`
//! block) thus takes 56 bytes. The stage has no tag of its own: the state
//! word says what it holds (see [`super::state`]), and neither member has
//! drop glue in the union, so freeing the cell never drops a future or an
//! output by accident. The waker of a JoinHandle waiting for the task is
//! not in the header either: it is kept in [`super::awaiters`], and the
//! task's AWAITED bit says whether there is one.
//!
//! Everything is reached through `NonNull<Header>`; the vtable knows the
//! concrete `F` and the [`Schedule`] policy the executor passed in (as
//! async-task's `spawn(future, schedule)` does), so this module knows
//! nothing of the executor.
//!
//! The future and its output are only ever touched on the runtime's
//! thread: the run queue, the live-task list and the JoinHandle (which is
//! `!Send`) all live there. Other threads only hold wakers, which change
//! the reference count and the SCHEDULED bit and push the pointer onto the
//! runtime's inject queue. When the last reference is dropped on another
//! thread the stage holds nothing (the future and output were dropped on
//! the runtime thread), so freeing the memory there is sound.
//!
//! User code runs in a task's poll, in its destructor, in its output's
//! destructor and in the awaiting task's waker; each of those is caught
//! ([`crate::unwind`]), so a panic anywhere leaves the task's state word
//! and the runtime's lists consistent. The exception is the awaiter's
//! waker inside the JoinHandle's own poll (cloned, replaced, or woken when
//! the waker table is gone): a panic there goes to the awaiter, as any
//! panic in a poll does, and it comes before or after the table and the
//! state word change, never between. That clone may even complete the
//! task (by dropping its runtime), so the poll looks at COMPLETE again
//! after it.

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::awaiters;
use super::join::JoinError;
use super::state::{AWAITED, CANCEL, COMPLETE, HANDLE, OUTPUT, REF_MASK, REF_ONE, SCHEDULED};
use crate::unwind;

/// How the runtime that owns a task queues it and lets it go.
pub(crate) trait Schedule: 'static {
    /// Queues a woken task; consumes one reference. Called on any thread.
    fn schedule(task: NonNull<Header>);
    /// Releases the task's share of its runtime (`owner`, as passed to
    /// [`allocate`]) when the task is freed. Called on any thread.
    fn release(owner: *const ());
}

/// The part of every task that does not depend on the future's type.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: AtomicUsize,
    vtable: &'static Vtable,
    /// The runtime this task belongs to (its scheduler's remote half). The
    /// task owns a share of it, released through [`Schedule::release`] in
    /// `dealloc` (the executor keeps a share released on its own thread
    /// for its next spawn).
    pub(crate) owner: *const (),
    /// Links of the runtime's list of live tasks (runtime thread only).
    pub(crate) prev: Cell<Option<NonNull<Header>>>,
    pub(crate) next: Cell<Option<NonNull<Header>>>,
}

/// Functions that know the concrete future type.
struct Vtable {
    /// Runs the task once; returns true if it completed during this call.
    poll: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future and records cancellation; returns true if the task
    /// was not complete before.
    cancel: unsafe fn(NonNull<Header>) -> bool,
    /// Moves the output into `*mut Poll<Result<T, JoinError>>`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the stored output (the caller has just cleared OUTPUT).
    drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
    /// Queues the task (the `Schedule` policy).
    schedule: fn(NonNull<Header>),
}

/// The future, then its output; the state word says which is live (see
/// the module docs). Runtime thread only.
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// Allocates a task for `future`, owned by the runtime `owner` (a share
/// the task keeps until it is freed, then hands to `S::release`).
///
/// The task starts SCHEDULED with a JoinHandle and three references: the
/// run-queue entry, the live-task list and the handle. The caller must push
/// the pointer on a run queue and into the live-task list.
pub(crate) fn allocate<F, S>(future: F, owner: *const ()) -> NonNull<Header>
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    let cell = Box::new(TaskCell {
        header: Header {
            state: AtomicUsize::new(SCHEDULED | HANDLE | (3 * REF_ONE)),
            vtable: &Vtable {
                poll: poll::<F>,
                cancel: cancel::<F>,
                read_output: read_output::<F>,
                drop_output: drop_output::<F>,
                dealloc: dealloc::<F, S>,
                schedule: S::schedule,
            },
            owner,
            prev: Cell::new(None),
            next: Cell::new(None),
        },
        stage: UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }),
    });
    NonNull::from(Box::leak(cell)).cast()
}

// ===== operations used by the executor and the JoinHandle =====

/// Polls the task behind a run-queue entry. Returns true if it completed.
///
/// # Safety
/// `ptr` is a live task of the current thread's runtime and the caller owns
/// a reference to it.
pub(crate) unsafe fn run(ptr: NonNull<Header>) -> bool {
    // SAFETY: per the contract, `ptr` is live.
    let vtable = unsafe { ptr.as_ref() }.vtable;
    // SAFETY: same contract as ours.
    unsafe { (vtable.poll)(ptr) }
}

/// Drops the task's future (if still running) and records cancellation.
/// Returns true if the task was still running.
///
/// # Safety
/// Runtime thread; `ptr` is live and the caller owns a reference.
pub(crate) unsafe fn cancel_now(ptr: NonNull<Header>) -> bool {
    // SAFETY: per the contract, `ptr` is live.
    let vtable = unsafe { ptr.as_ref() }.vtable;
    // SAFETY: same contract as ours.
    unsafe { (vtable.cancel)(ptr) }
}

/// Releases one reference, freeing the task when it was the last.
///
/// # Safety
/// The caller owns the reference it gives up; `ptr` is not used afterwards.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: forwarded.
    unsafe { release(ptr, REF_ONE) }
}

/// Releases two references at once (one atomic operation instead of two),
/// freeing the task when they were the last.
///
/// # Safety
/// The caller owns both references it gives up; `ptr` is not used
/// afterwards.
pub(crate) unsafe fn drop_two_refs(ptr: NonNull<Header>) {
    // SAFETY: forwarded.
    unsafe { release(ptr, 2 * REF_ONE) }
}

/// Subtracts `sub` from the state word in one atomic operation: the
/// references it holds, and flags that are set and that only this thread
/// changes; frees the task when those were its last references.
///
/// # Safety
/// The caller owns the references in `sub`, and every flag in it is set
/// and cannot change meanwhile; `ptr` is not used afterwards.
unsafe fn release(ptr: NonNull<Header>, sub: usize) {
    // SAFETY: the caller's references keep the header alive until here.
    let header = unsafe { ptr.as_ref() };
    let prev = header.state.fetch_sub(sub, Ordering::AcqRel);
    if prev & REF_MASK == sub & REF_MASK {
        // SAFETY: those were the last references; nobody else can reach
        // `ptr`.
        unsafe { (header.vtable.dealloc)(ptr) };
    }
}

/// Output of the task, or registers `waker` to be woken at completion.
///
/// # Safety
/// Runtime thread; the caller is the task's JoinHandle and `out` points to a
/// `Poll<Result<T, JoinError>>` where `T` is the future's output type.
pub(crate) unsafe fn poll_join(ptr: NonNull<Header>, waker: &Waker, out: *mut ()) {
    // SAFETY: the handle's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    let state = header.state.load(Ordering::Acquire);
    if state & COMPLETE != 0 {
        // SAFETY: contract forwarded; the output is read on the runtime thread.
        unsafe { (header.vtable.read_output)(ptr, out) };
        return;
    }
    if state & AWAITED != 0 && awaiters::is_registered(ptr, waker) {
        return;
    }
    // Cloned (user code) before the map is touched, and the replaced waker
    // dropped after: the map is never borrowed while user code runs.
    let waker = waker.clone();
    // The clone may have completed the task (by dropping its runtime, say):
    // then nothing would wake a waker stored now, so take the output.
    if header.state.load(Ordering::Acquire) & COMPLETE != 0 {
        // SAFETY: contract forwarded, as for the check above.
        unsafe { (header.vtable.read_output)(ptr, out) };
        drop(waker);
        return;
    }
    match awaiters::insert(ptr, waker) {
        Ok(replaced) => {
            header.state.fetch_or(AWAITED, Ordering::AcqRel);
            drop(replaced);
        }
        // The thread is tearing down its thread-locals: have the awaiter
        // poll again rather than wait for a wake that cannot be stored.
        Err(waker) => waker.wake(),
    }
}

/// Called when the JoinHandle is dropped.
///
/// # Safety
/// Runtime thread; the caller is the handle and gives up its reference.
pub(crate) unsafe fn drop_handle(ptr: NonNull<Header>) {
    // SAFETY: the handle's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    // HANDLE, AWAITED and OUTPUT change on the runtime thread only (this
    // one), so a plain load reads them exactly. With no output to drop and
    // no waker to remove (a detached task, or one whose output was taken),
    // no user code runs here: one subtraction clears HANDLE (which is set)
    // and gives up the handle's reference, without disturbing the bits
    // remote wakers change meanwhile. One atomic operation instead of two.
    let cur = header.state.load(Ordering::Relaxed);
    if cur & (AWAITED | OUTPUT) == 0 {
        debug_assert_ne!(cur & HANDLE, 0, "a JoinHandle dropped twice");
        // SAFETY: the handle's reference, and HANDLE, which is set and
        // changes on this thread only.
        unsafe { release(ptr, HANDLE + REF_ONE) };
        return;
    }
    let prev = header
        .state
        .fetch_and(!(HANDLE | AWAITED | OUTPUT), Ordering::AcqRel);
    if prev & OUTPUT != 0 {
        // SAFETY: runtime thread; OUTPUT was set (the stage holds the
        // output) and clearing it handed the output to us.
        unsafe { (header.vtable.drop_output)(ptr) };
    }
    if prev & AWAITED != 0 {
        // Nobody waits for the task any more.
        if let Some(waker) = awaiters::remove(ptr) {
            unwind::catch(move || drop(waker));
        }
    }
    // SAFETY: the handle's reference is given up here.
    unsafe { drop_ref(ptr) };
}

/// Requests cancellation: the task is scheduled and its future dropped the
/// next time the runtime gets to it.
///
/// # Safety
/// `ptr` is live and the caller holds a reference.
pub(crate) unsafe fn abort(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    let mut cur = header.state.load(Ordering::Acquire);
    loop {
        if cur & (COMPLETE | CANCEL) != 0 {
            return;
        }
        let push = cur & SCHEDULED == 0;
        let next = (cur | CANCEL | SCHEDULED) + if push { REF_ONE } else { 0 };
        match header
            .state
            .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if push {
                    (header.vtable.schedule)(ptr);
                }
                return;
            }
            Err(actual) => cur = actual,
        }
    }
}

/// Whether the task has completed (output ready, or cancelled).
///
/// # Safety
/// `ptr` is live.
pub(crate) unsafe fn is_complete(ptr: NonNull<Header>) -> bool {
    // SAFETY: per the contract.
    unsafe { ptr.as_ref() }.state.load(Ordering::Acquire) & COMPLETE != 0
}

// ===== monomorphised vtable functions =====

unsafe fn poll<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: `ptr` came from `allocate::<F>` (the vtable is F's).
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    let prev = cell.header.state.fetch_and(!SCHEDULED, Ordering::AcqRel);
    if prev & COMPLETE != 0 {
        return false;
    }
    if prev & CANCEL != 0 {
        // SAFETY: forwarded contract (runtime thread, live task).
        return unsafe { cancel::<F>(ptr) };
    }
    // The run-queue entry's reference keeps the task alive for the whole
    // poll, so the waker handed to the future borrows it without a count.
    // SAFETY: RAW_WAKER_VTABLE functions treat the data pointer as a task
    // header; ManuallyDrop ensures this borrowed waker never drops a ref.
    let waker = ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE))
    });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: COMPLETE is clear, so the stage holds the live future; it is
    // only accessed on the runtime thread, and nothing else borrows it while
    // the task is being polled.
    let fut: &mut F = unsafe { &mut (*cell.stage.get()).future };
    // SAFETY: the future is never moved out of its heap slot while running.
    let fut = unsafe { Pin::new_unchecked(fut) };
    let result = catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx)));
    let output = match result {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(out)) => Ok(out),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: runtime thread, task live.
    unsafe { complete::<F>(cell, output) };
    true
}

unsafe fn cancel<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: `ptr` came from `allocate::<F>`.
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    if cell.header.state.load(Ordering::Acquire) & COMPLETE != 0 {
        return false;
    }
    // SAFETY: runtime thread, task live.
    unsafe { complete::<F>(cell, Err(JoinError::cancelled())) };
    true
}

/// Drops the future, stores (or drops) the output, and wakes the awaiter.
///
/// # Safety
/// Runtime thread; the task is live and not complete.
unsafe fn complete<F: Future>(cell: &TaskCell<F>, output: Result<F::Output, JoinError>) {
    // The stage is only touched on the runtime thread and no borrow of it
    // is live (the poll's borrow ended before this call).
    let stage: *mut Stage<F> = cell.stage.get();
    // The future is pinned, so it is dropped where it lies. A destructor
    // that panics must not take the runtime down with it: drop glue still
    // drops the rest of the future while unwinding, and the panic is
    // caught. COMPLETE is set right after, so it is never dropped again.
    // SAFETY: COMPLETE is clear, so the stage holds the live future, which
    // is dropped exactly once, here.
    unwind::catch(|| unsafe { ManuallyDrop::drop(&mut (*stage).future) });
    let state = &cell.header.state;
    // HANDLE, AWAITED and OUTPUT change on the runtime thread only (this
    // one), so a plain load reads them exactly, and one atomic toggle then
    // sets COMPLETE (and OUTPUT) and clears AWAITED without disturbing the
    // bits remote wakers change meanwhile.
    let cur = state.load(Ordering::Relaxed);
    debug_assert_eq!(cur & (COMPLETE | OUTPUT), 0, "a task completed twice");
    let mut toggle = COMPLETE | (cur & AWAITED);
    let handle = cur & HANDLE != 0;
    let output = if handle {
        // SAFETY: the future is gone, so the slot is free; writing a union
        // member drops nothing. OUTPUT (set below) then says it is live.
        unsafe { std::ptr::addr_of_mut!((*stage).output).write(ManuallyDrop::new(output)) };
        toggle |= OUTPUT;
        None
    } else {
        Some(output)
    };
    state.fetch_xor(toggle, Ordering::AcqRel);
    if let Some(output) = output {
        unwind::catch(move || drop(output));
    }
    if cur & AWAITED != 0 {
        if let Some(waker) = awaiters::remove(NonNull::from(&cell.header)) {
            unwind::wake(waker);
        }
    }
}

unsafe fn read_output<F: Future>(ptr: NonNull<Header>, out: *mut ()) {
    // SAFETY: `ptr` came from `allocate::<F>`.
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    if cell.header.state.fetch_and(!OUTPUT, Ordering::AcqRel) & OUTPUT == 0 {
        panic!("JoinHandle polled after it returned its output");
    }
    // SAFETY: OUTPUT was set, so the stage holds the output; clearing the
    // bit hands it to us (runtime thread, no other borrow of the stage).
    let res = unsafe { ManuallyDrop::take(&mut (*cell.stage.get()).output) };
    // SAFETY: the caller passes a pointer to Poll<Result<F::Output,
    // JoinError>> (the JoinHandle<T> was created with T = F::Output).
    unsafe { *(out as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(res) };
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: `ptr` came from `allocate::<F>`.
    let cell = unsafe { ptr.cast::<TaskCell<F>>().as_ref() };
    // SAFETY: the caller cleared OUTPUT, which was set, so the stage holds
    // the output and it is ours (runtime thread, no other borrow of it).
    let old = unsafe { ManuallyDrop::take(&mut (*cell.stage.get()).output) };
    unwind::catch(move || drop(old));
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: `ptr` came from `Box::leak` in `allocate::<F, S>` and this is
    // the last reference. The stage's members are `ManuallyDrop` (and were
    // dropped on the runtime thread, see the module docs), so no `F` or
    // output is dropped here, whatever thread this is.
    let cell = unsafe { Box::from_raw(ptr.cast::<TaskCell<F>>().as_ptr()) };
    let owner = cell.header.owner;
    drop(cell);
    S::release(owner);
}

// ===== wakers =====

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn header_of(data: *const ()) -> NonNull<Header> {
    // SAFETY-free: a waker's data pointer is always a non-null task header.
    NonNull::new(data as *mut Header).unwrap_or_else(|| std::process::abort())
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    let ptr = header_of(data);
    // SAFETY: the waker being cloned holds (or borrows) a reference.
    let prev = unsafe { ptr.as_ref() }
        .state
        .fetch_add(REF_ONE, Ordering::Relaxed);
    if prev > isize::MAX as usize {
        std::process::abort();
    }
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    let ptr = header_of(data);
    // SAFETY: the waker's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    let mut cur = header.state.load(Ordering::Acquire);
    loop {
        if cur & (SCHEDULED | COMPLETE) != 0 {
            // SAFETY: the waker's reference is given up.
            unsafe { drop_ref(ptr) };
            return;
        }
        match header.state.compare_exchange_weak(
            cur,
            cur | SCHEDULED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // The waker's reference becomes the run-queue entry's.
            Ok(_) => return (header.vtable.schedule)(ptr),
            Err(actual) => cur = actual,
        }
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    let ptr = header_of(data);
    // SAFETY: the waker's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    let mut cur = header.state.load(Ordering::Acquire);
    loop {
        if cur & (SCHEDULED | COMPLETE) != 0 {
            return;
        }
        match header.state.compare_exchange_weak(
            cur,
            (cur | SCHEDULED) + REF_ONE,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // The new reference belongs to the run-queue entry.
            Ok(_) => return (header.vtable.schedule)(ptr),
            Err(actual) => cur = actual,
        }
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker owns the reference it gives up.
    unsafe { drop_ref(header_of(data)) };
}

/// The raw task on its own: a mock [`Schedule`] instead of an executor, and
/// no epoll, so these tests also run under Miri.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::JoinHandle;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::Mutex;

    thread_local! {
        static QUEUE: RefCell<VecDeque<NonNull<Header>>> = const { RefCell::new(VecDeque::new()) };
        static RELEASED: Cell<usize> = const { Cell::new(0) };
    }

    /// Tasks scheduled from other threads.
    static REMOTE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    struct Mock;

    impl Schedule for Mock {
        fn schedule(task: NonNull<Header>) {
            let local = QUEUE.try_with(|q| q.borrow_mut().push_back(task)).is_ok();
            assert!(local, "scheduled while the thread is exiting");
        }
        fn release(_owner: *const ()) {
            RELEASED.with(|r| r.set(r.get() + 1));
        }
    }

    /// Queues remote wakes for the test thread to pick up.
    struct RemoteMock;

    impl Schedule for RemoteMock {
        fn schedule(task: NonNull<Header>) {
            REMOTE.lock().unwrap().push(task.as_ptr() as usize);
        }
        fn release(_owner: *const ()) {}
    }

    fn spawn<F: Future + 'static, S: Schedule>(f: F) -> (NonNull<Header>, JoinHandle<F::Output>)
    where
        F::Output: 'static,
    {
        let task = allocate::<F, S>(f, std::ptr::null());
        // The test keeps the live-task list's reference itself.
        (task, JoinHandle::new(task))
    }

    /// Runs every queued entry once (each owns a reference).
    fn run_queued() -> usize {
        let mut n = 0;
        while let Some(t) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
            // SAFETY: the queue entry owns a reference; this is the thread
            // that owns the task.
            unsafe { run(t) };
            // SAFETY: the entry's reference.
            unsafe { drop_ref(t) };
            n += 1;
        }
        n
    }

    fn poll_handle<T>(h: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
        let waker = futures_task::noop_waker();
        std::future::Future::poll(Pin::new(h), &mut Context::from_waker(&waker))
    }

    /// Counts drops of a value moved into a future.
    struct Tracked(Rc<Cell<usize>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn output_reaches_the_handle_and_memory_is_freed() {
        let drops = Rc::new(Cell::new(0));
        let released = RELEASED.with(Cell::get);
        let tracked = Tracked(drops.clone());
        let (task, mut h) = spawn::<_, Mock>(async move {
            let _t = tracked;
            7
        });
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        assert_eq!(run_queued(), 1);
        assert_eq!(drops.get(), 1, "the future is dropped at completion");
        assert!(matches!(poll_handle(&mut h), Poll::Ready(Ok(7))));
        drop(h);
        // SAFETY: the list's reference, kept by the test.
        unsafe { drop_ref(task) };
        assert_eq!(RELEASED.with(Cell::get), released + 1);
    }

    #[test]
    fn an_unread_output_is_dropped_once_with_its_handle() {
        let drops = Rc::new(Cell::new(0));
        let out = Tracked(drops.clone());
        let (task, h) = spawn::<_, Mock>(async move { out });
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        run_queued();
        assert_eq!(drops.get(), 0, "kept for the handle");
        drop(h);
        assert_eq!(drops.get(), 1);
        // SAFETY: the list's reference, the last one.
        unsafe { drop_ref(task) };
        assert_eq!(drops.get(), 1, "freeing the cell drops nothing");
    }

    #[test]
    fn wake_by_ref_from_inside_poll_runs_the_task_again_once() {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let (task, mut h) = spawn::<_, Mock>(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() < 3 {
                cx.waker().wake_by_ref();
                cx.waker().wake_by_ref(); // already scheduled: no second entry
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        assert_eq!(run_queued(), 3);
        assert_eq!(polls.get(), 3);
        assert!(matches!(poll_handle(&mut h), Poll::Ready(Ok(()))));
        drop(h);
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    #[test]
    fn abort_drops_the_future_and_reports_cancellation() {
        let drops = Rc::new(Cell::new(0));
        let tracked = Tracked(drops.clone());
        let (task, mut h) = spawn::<_, Mock>(async move {
            let _t = tracked;
            std::future::pending::<()>().await
        });
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        run_queued();
        assert_eq!(drops.get(), 0);
        h.abort();
        assert_eq!(run_queued(), 1, "abort schedules the task");
        assert_eq!(drops.get(), 1);
        match poll_handle(&mut h) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
            _ => panic!("not cancelled"),
        }
        h.abort(); // no effect once complete
        assert_eq!(run_queued(), 0);
        drop(h);
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    #[test]
    fn panics_are_caught_and_reported() {
        let (task, mut h) = spawn::<_, Mock>(async { panic!("inside") });
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        run_queued();
        match poll_handle(&mut h) {
            Poll::Ready(Err(e)) => assert!(e.is_panic()),
            _ => panic!("panic not reported"),
        }
        drop(h);
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    #[test]
    fn detached_output_is_dropped_at_completion() {
        let drops = Rc::new(Cell::new(0));
        let out = Tracked(drops.clone());
        let (task, h) = spawn::<_, Mock>(async move { out });
        drop(h);
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        run_queued();
        assert_eq!(drops.get(), 1);
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    #[test]
    fn wakers_from_another_thread_keep_the_task_alive() {
        let waker_slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let slot = waker_slot.clone();
        let (task, h) = spawn::<_, RemoteMock>(std::future::poll_fn(move |cx| {
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        // SAFETY: the first run-queue entry's reference; runtime thread.
        unsafe { run(task) };
        // SAFETY: that entry's reference is released after the run.
        unsafe { drop_ref(task) };
        let waker = waker_slot.lock().unwrap().take().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = waker.clone();
                std::thread::spawn(move || {
                    w.wake_by_ref();
                    w.wake();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(waker);
        // Exactly one remote entry (SCHEDULED coalesces the wakes).
        let remote: Vec<usize> = std::mem::take(&mut *REMOTE.lock().unwrap());
        assert_eq!(remote, [task.as_ptr() as usize]);
        // SAFETY: the remote entry's reference.
        unsafe { drop_ref(task) };
        // SAFETY: runtime thread, the test's reference.
        unsafe { cancel_now(task) };
        drop(h);
        // SAFETY: the list's reference, the last one.
        unsafe { drop_ref(task) };
    }

    /// Counts the wakes of a waker.
    #[derive(Default)]
    struct CountingWake(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A task that waits until `go` is set.
    fn gated(go: Rc<Cell<bool>>) -> impl Future<Output = u32> {
        std::future::poll_fn(move |cx| {
            if go.get() {
                Poll::Ready(5)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    fn cell_size<F: Future>(_: &F) -> usize {
        std::mem::size_of::<TaskCell<F>>()
    }

    #[test]
    fn an_idle_task_with_a_16_byte_future_takes_56_bytes() {
        assert_eq!(std::mem::size_of::<Header>(), 40);
        let started = Rc::new(Cell::new(0usize));
        // The benchmark's idle task (`tasks` / `idle_heap`).
        let fut = async move {
            started.set(started.get() + 1);
            std::future::pending::<()>().await;
        };
        assert_eq!(std::mem::size_of_val(&fut), 16);
        assert_eq!(cell_size(&fut), 56);
    }

    #[test]
    fn a_waiting_handle_is_woken_once_at_completion_and_its_waker_let_go() {
        let go = Rc::new(Cell::new(false));
        let (task, mut h) = spawn::<_, Mock>(gated(go.clone()));
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        let count = Arc::new(CountingWake::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        assert_eq!(Arc::strong_count(&count), 3, "one stored clone");
        assert_eq!(awaiters::len(), 1);
        run_queued_once();
        assert_eq!(count.0.load(Ordering::Relaxed), 0, "woken before it ends");
        go.set(true);
        run_queued();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert_eq!(Arc::strong_count(&count), 2, "the stored waker is gone");
        assert_eq!(awaiters::len(), 0);
        assert!(matches!(Pin::new(&mut h).poll(&mut cx), Poll::Ready(Ok(5))));
        drop(h);
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    #[test]
    fn dropping_a_waiting_handle_lets_its_waker_go() {
        let go = Rc::new(Cell::new(false));
        let (task, mut h) = spawn::<_, Mock>(gated(go.clone()));
        QUEUE.with(|q| q.borrow_mut().push_back(task));
        let count = Arc::new(CountingWake::default());
        let waker = Waker::from(count.clone());
        assert!(Pin::new(&mut h)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(Arc::strong_count(&count), 3);
        drop(h);
        assert_eq!(Arc::strong_count(&count), 2, "dropped with the handle");
        assert_eq!(awaiters::len(), 0);
        go.set(true);
        run_queued();
        assert_eq!(count.0.load(Ordering::Relaxed), 0, "nobody to wake");
        // SAFETY: the list's reference.
        unsafe { drop_ref(task) };
    }

    /// Runs only the entries queued now (each owns a reference).
    fn run_queued_once() {
        let batch: Vec<_> = QUEUE.with(|q| q.borrow_mut().drain(..).collect());
        for t in batch {
            // SAFETY: the queue entry owns a reference; owning thread.
            unsafe { run(t) };
            // SAFETY: the entry's reference.
            unsafe { drop_ref(t) };
        }
    }

    /// Remote wakes of the handle-drop race test (its own queue, so that
    /// the tests sharing `REMOTE` see none of them).
    static RACE_QUEUE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static RACE_FREED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    struct RaceMock;

    impl Schedule for RaceMock {
        fn schedule(task: NonNull<Header>) {
            RACE_QUEUE.lock().unwrap().push(task.as_ptr() as usize);
        }
        fn release(_owner: *const ()) {
            RACE_FREED.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The handle's one-operation drop (no waker, no output) while another
    /// thread clones, wakes and drops the task's waker: neither the
    /// reference count nor SCHEDULED loses an update, and the task is freed
    /// exactly once, when the last reference goes.
    #[test]
    fn a_detached_handle_drop_racing_remote_wakers_loses_no_update() {
        let rounds = if cfg!(miri) { 20 } else { 3_000 };
        let freed = RACE_FREED.load(Ordering::Relaxed);
        for _ in 0..rounds {
            let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
            let s = slot.clone();
            let (task, h) = spawn::<_, RaceMock>(std::future::poll_fn(move |cx| {
                *s.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
            // SAFETY: the first run-queue entry's reference; owning thread.
            unsafe { run(task) };
            // SAFETY: that entry's reference.
            unsafe { drop_ref(task) };
            let waker = slot.lock().unwrap().take().unwrap();
            let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (st, sp) = (started.clone(), stop.clone());
            let hammer = std::thread::spawn(move || {
                let mut n = 0u32;
                loop {
                    let w = waker.clone();
                    if n % 8 == 7 {
                        w.wake_by_ref();
                    }
                    drop(w);
                    n += 1;
                    st.store(true, Ordering::Release);
                    if sp.load(Ordering::Acquire) {
                        break;
                    }
                }
                drop(waker);
            });
            while !started.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            // The fast path: no AWAITED, no OUTPUT.
            drop(h);
            stop.store(true, Ordering::Release);
            hammer.join().unwrap();
            let queued: Vec<usize> = std::mem::take(&mut *RACE_QUEUE.lock().unwrap());
            // SAFETY: the list's reference keeps the task alive.
            let state = unsafe { task.as_ref() }.state.load(Ordering::Acquire);
            assert_eq!(state & HANDLE, 0, "HANDLE still set");
            assert_eq!(
                state & REF_MASK,
                (1 + queued.len()) * REF_ONE,
                "references: the list's and one per queued wake"
            );
            assert_eq!(state & SCHEDULED != 0, !queued.is_empty());
            for t in queued {
                // SAFETY: each queued wake owns a reference.
                unsafe { drop_ref(NonNull::new(t as *mut Header).unwrap()) };
            }
            // SAFETY: runtime thread, the list's reference.
            unsafe { cancel_now(task) };
            // SAFETY: the list's reference, the last one.
            unsafe { drop_ref(task) };
        }
        assert_eq!(RACE_FREED.load(Ordering::Relaxed), freed + rounds);
    }

    use std::sync::Arc;
}
