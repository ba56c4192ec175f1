//! The wakers of waiting JoinHandles, kept in a per-thread table keyed by
//! the task's address: address reuse, handles awaited in another runtime,
//! wakers that re-enter the runtime, and the table at thread exit. The CI
//! job also runs this file under AddressSanitizer.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tern::{JoinHandle, Runtime};

/// Counts its wakes; `id` names it in failure messages.
#[derive(Default)]
struct Counting {
    wakes: AtomicUsize,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting::default());
    let w = Waker::from(c.clone());
    (c, w)
}

fn poll_once<T>(h: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, tern::JoinError>> {
    Pin::new(h).poll(&mut Context::from_waker(waker))
}

/// Yields `n` times.
async fn yields(n: usize) {
    for _ in 0..n {
        tern::yield_now().await;
    }
}

/// A task freed while the waker of its (dropped) handle was registered,
/// and new tasks allocated at the same addresses: only the new handles'
/// wakers are woken, each once.
#[tern::test]
async fn a_reused_task_address_wakes_only_the_new_handle() {
    let mut old = Vec::new();
    for _ in 0..64 {
        let (c, w) = counting();
        let mut h = tern::spawn(async { yields(2).await });
        assert!(poll_once(&mut h, &w).is_pending());
        drop(h);
        old.push(c);
    }
    yields(8).await;
    let mut new = Vec::new();
    for _ in 0..64 {
        let (c, w) = counting();
        let mut h = tern::spawn(async { yields(2).await });
        assert!(poll_once(&mut h, &w).is_pending());
        new.push((c, h));
    }
    yields(8).await;
    for c in &old {
        assert_eq!(
            c.wakes.load(Ordering::SeqCst),
            0,
            "a dropped handle's waker was woken"
        );
        assert_eq!(Arc::strong_count(c), 1, "a dropped handle's waker was kept");
    }
    for (c, h) in &mut new {
        assert_eq!(c.wakes.load(Ordering::SeqCst), 1);
        let w = Waker::from(c.clone());
        assert!(matches!(poll_once(h, &w), Poll::Ready(Ok(()))));
    }
}

/// A handle polled in one runtime, whose task then completes in its own
/// runtime after the first one is gone: the dead runtime's waker is woken
/// harmlessly and the output still comes back.
#[test]
fn a_handle_polled_in_a_runtime_that_is_gone() {
    let owner = Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let mut h = owner.spawn(async move {
        // Lets the other runtime run first.
        while rx.try_recv().is_err() {
            tern::yield_now().await;
        }
        7u32
    });
    let other = Runtime::new().unwrap();
    other.block_on(poll_fn(|cx| {
        assert!(Pin::new(&mut h).poll(cx).is_pending());
        Poll::Ready(())
    }));
    drop(other);
    tx.send(()).unwrap();
    owner.block_on(yields(16));
    assert!(h.is_finished());
    assert_eq!(owner.block_on(&mut h).unwrap(), 7);
}

/// A handle awaited in one runtime while its task's runtime is dropped
/// (inside a task of the first): the waiter is woken with a cancellation.
#[test]
fn a_handle_waiting_in_another_runtime_sees_its_runtime_shut_down() {
    let owner = Runtime::new().unwrap();
    let h = owner.spawn(pending::<()>());
    let owner = Rc::new(RefCell::new(Some(owner)));
    let err = tern::block_on(async {
        let waiter = tern::spawn(h);
        tern::yield_now().await;
        let o = owner.clone();
        tern::spawn(async move { drop(o.borrow_mut().take()) })
            .await
            .unwrap();
        waiter.await.unwrap().unwrap_err()
    });
    assert!(err.is_cancelled());
}

thread_local! {
    static STASH: RefCell<Vec<JoinHandle<u32>>> = const { RefCell::new(Vec::new()) };
    static SPAWNED: RefCell<Vec<JoinHandle<u32>>> = const { RefCell::new(Vec::new()) };
}

/// A waker that, when woken or dropped on the runtime thread, drops every
/// stashed handle (each waiting, with its waker in the table), polls them
/// first, and spawns a task.
struct Reentrant {
    on_drop: bool,
    wakes: AtomicUsize,
}

impl Reentrant {
    fn reenter() {
        // At thread exit the stash may be gone before the waker.
        let stash = STASH
            .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
            .unwrap_or_default();
        let (_c, w) = counting();
        for mut h in stash {
            let _ = poll_once(&mut h, &w);
            drop(h);
        }
        if tern::in_runtime() {
            let h = tern::spawn(async { 9 });
            SPAWNED.with(|s| s.borrow_mut().push(h));
        }
    }
}

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        Reentrant::reenter();
    }
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        if self.on_drop {
            Reentrant::reenter();
        }
    }
}

/// A task that never finishes.
async fn idle() -> u32 {
    pending::<()>().await;
    0
}

/// A waker that re-enters the runtime when it is dropped.
fn reentrant_on_drop() -> Waker {
    Waker::from(Arc::new(Reentrant {
        on_drop: true,
        wakes: AtomicUsize::new(0),
    }))
}

/// Polls `h` once with a counting waker (so it waits) and stashes it.
fn stash(mut h: JoinHandle<u32>) -> Arc<Counting> {
    let (c, w) = counting();
    assert!(poll_once(&mut h, &w).is_pending());
    STASH.with(|s| s.borrow_mut().push(h));
    c
}

/// Stashes `n` waiting handles of pending tasks.
fn stash_waiting(n: usize) -> Vec<Arc<Counting>> {
    (0..n).map(|_| stash(tern::spawn(idle()))).collect()
}

/// The awaiter's waker re-enters at completion: it drops and polls other
/// waiting handles and spawns. Nothing is borrowed twice or lost.
#[tern::test]
async fn a_join_waker_that_reenters_on_wake() {
    let others = stash_waiting(32);
    let r = Arc::new(Reentrant {
        on_drop: false,
        wakes: AtomicUsize::new(0),
    });
    let w = Waker::from(r.clone());
    let mut h = tern::spawn(async { yields(1).await });
    assert!(poll_once(&mut h, &w).is_pending());
    yields(4).await;
    assert_eq!(r.wakes.load(Ordering::SeqCst), 1);
    for c in &others {
        assert_eq!(Arc::strong_count(c), 1, "a dropped handle kept its waker");
    }
    let spawned = SPAWNED
        .with(|s| s.borrow_mut().pop())
        .expect("spawned in wake");
    assert_eq!(spawned.await.unwrap(), 9);
    assert!(matches!(poll_once(&mut h, &w), Poll::Ready(Ok(()))));
}

/// The stored waker's drop re-enters: when it is replaced by another
/// waker, and when its handle is dropped.
#[tern::test]
async fn a_join_waker_that_reenters_on_drop() {
    for replace in [true, false] {
        let others = stash_waiting(16);
        let mut h = tern::spawn(idle());
        let w = reentrant_on_drop();
        assert!(poll_once(&mut h, &w).is_pending());
        drop(w);
        if replace {
            let (_c, w2) = counting();
            assert!(poll_once(&mut h, &w2).is_pending());
        } else {
            drop(h);
        }
        for c in &others {
            assert_eq!(Arc::strong_count(c), 1, "a dropped handle kept its waker");
        }
        let spawned = SPAWNED
            .with(|s| s.borrow_mut().pop())
            .expect("spawned in drop");
        assert_eq!(spawned.await.unwrap(), 9);
    }
}

/// A task aborts itself from inside its poll, then finishes that poll: the
/// output wins, the future is dropped once, and the waiter is woken once.
#[tern::test]
async fn abort_from_inside_its_own_poll() {
    for finish in [false, true] {
        let me: Rc<RefCell<Option<JoinHandle<u32>>>> = Rc::default();
        let drops = Rc::new(Cell::new(0));
        struct Count(Rc<Cell<u32>>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let m = me.clone();
        let g = Count(drops.clone());
        let h = tern::spawn(async move {
            let _g = g;
            tern::yield_now().await;
            m.borrow().as_ref().unwrap().abort();
            if !finish {
                pending::<()>().await;
            }
            5
        });
        *me.borrow_mut() = Some(h);
        let (c, w) = counting();
        assert!(poll_once(me.borrow_mut().as_mut().unwrap(), &w).is_pending());
        yields(4).await;
        assert_eq!(drops.get(), 1);
        assert_eq!(c.wakes.load(Ordering::SeqCst), 1);
        let h = me.borrow_mut().take().unwrap();
        let res = h.await;
        match (finish, res) {
            (true, Ok(5)) => {}
            (false, Err(e)) if e.is_cancelled() => {}
            (f, r) => panic!("finish={f}: {r:?}"),
        }
    }
}

/// JoinSet: abort_all and drop while its handles wait (their wakers are in
/// the table); the tasks are cancelled and nothing is kept.
#[tern::test]
async fn join_set_abort_all_and_drop_while_waiting() {
    let drops = Rc::new(Cell::new(0u32));
    let mut set = tern::JoinSet::new();
    for _ in 0..16 {
        let d = drops.clone();
        set.spawn(async move {
            struct Count(Rc<Cell<u32>>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            let _c = Count(d);
            pending::<u32>().await
        });
    }
    yields(2).await;
    set.abort_all();
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap_err().is_cancelled());
        n += 1;
    }
    assert_eq!((n, drops.get()), (16, 16));
    let mut set = tern::JoinSet::new();
    for _ in 0..16 {
        set.spawn(pending::<u32>());
    }
    yields(2).await;
    drop(set);
    yields(2).await;
    assert_eq!(tern::current_metrics().unwrap().tasks, 0);
}

/// Wakers held by a std thread outlive the runtime; the last reference to
/// each task (a finished one holding an output, and a cancelled one) is
/// dropped on that thread.
#[test]
fn task_cells_freed_by_a_std_thread_after_the_runtime() {
    for _ in 0..50 {
        let (tx, rx) = mpsc::channel::<Waker>();
        let (out_tx, out_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let wakers: Vec<Waker> = rx.iter().collect();
            for w in &wakers {
                w.wake_by_ref();
            }
            out_rx.recv().unwrap();
            for w in wakers {
                w.wake();
            }
        });
        tern::block_on(async {
            let mut hs = Vec::new();
            for i in 0..8u32 {
                let tx = tx.clone();
                hs.push(tern::spawn(poll_fn(move |cx| {
                    tx.send(cx.waker().clone()).unwrap();
                    if i % 2 == 0 {
                        Poll::Ready(Rc::new(vec![i; 8]))
                    } else {
                        Poll::Pending
                    }
                })));
            }
            yields(2).await;
            // Half finished (output stored), half pending (cancelled at
            // shutdown); the handles go with the block_on future.
            for (i, h) in hs.iter_mut().enumerate() {
                let (_c, w) = counting();
                let r = poll_once(h, &w);
                assert_eq!(r.is_ready(), i % 2 == 0);
            }
        });
        drop(tx);
        out_tx.send(()).unwrap();
        t.join().unwrap();
    }
}

thread_local! {
    static EXIT_RT: RefCell<Option<(Runtime, Vec<JoinHandle<u32>>)>> = const { RefCell::new(None) };
}

/// A thread exits with a runtime and waiting handles in thread-locals: the
/// waker table is torn down before or after them; nothing is touched after
/// it is freed (AddressSanitizer) and nothing panics.
#[test]
fn waiting_handles_at_thread_exit() {
    // Thread-locals are torn down in the reverse order of their first use.
    for table_first in [false, true] {
        std::thread::spawn(move || {
            if table_first {
                // Used before the table, so torn down after it.
                EXIT_RT.with(|_| ());
                STASH.with(|_| ());
            } else {
                // The table is used first, so torn down last.
                tern::block_on(async {
                    let mut h = tern::spawn(async { 1u32 });
                    let (_c, w) = counting();
                    let _ = poll_once(&mut h, &w);
                });
            }
            let rt = Runtime::new().unwrap();
            let mut hs = Vec::new();
            for _ in 0..8 {
                let mut h = rt.spawn(idle());
                let w = reentrant_on_drop();
                assert!(poll_once(&mut h, &w).is_pending());
                hs.push(h);
            }
            let _ = stash_waiting_in(&rt, 4);
            EXIT_RT.with(|s| *s.borrow_mut() = Some((rt, hs)));
        })
        .join()
        .unwrap();
    }
}

/// [`stash_waiting`] for a runtime that is not running.
fn stash_waiting_in(rt: &Runtime, n: usize) -> Vec<Arc<Counting>> {
    (0..n).map(|_| stash(rt.spawn(idle()))).collect()
}

/// A panic in the awaited task, in its output's drop and in the waiter's
/// waker, with the waker in the table.
#[tern::test]
async fn panics_with_a_waiting_handle() {
    struct PanicWake;
    impl Wake for PanicWake {
        fn wake(self: Arc<Self>) {
            panic!("waker panics");
        }
    }
    struct PanicDrop;
    impl Drop for PanicDrop {
        fn drop(&mut self) {
            panic!("output drop panics");
        }
    }
    let w = Waker::from(Arc::new(PanicWake));
    let mut a = tern::spawn(async {
        tern::yield_now().await;
        panic!("task panics")
    });
    let mut b = tern::spawn(async {
        tern::yield_now().await;
        PanicDrop
    });
    assert!(poll_once(&mut a, &w).is_pending());
    assert!(poll_once(&mut b, &w).is_pending());
    yields(3).await;
    let (_c, w2) = counting();
    assert!(matches!(poll_once(&mut a, &w2), Poll::Ready(Err(e)) if e.is_panic()));
    assert!(b.is_finished());
    drop(b); // the output's panic is caught
    tern::time::sleep(Duration::from_micros(10)).await;
    assert_eq!(tern::spawn(async { 3 }).await.unwrap(), 3);
}

// ===== the awaiter's waker is user code =====

thread_local! {
    static DOOMED: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    static CLONE_WAKES: Cell<usize> = const { Cell::new(0) };
}

static DOOMING_VTABLE: std::task::RawWakerVTable =
    std::task::RawWakerVTable::new(dooming_clone, dooming_wake, dooming_wake, |_| {});

/// Cloning drops the runtime stashed in `DOOMED` (whose shutdown completes
/// the tasks it owns); waking counts in `CLONE_WAKES`.
fn dooming_clone(_: *const ()) -> std::task::RawWaker {
    drop(DOOMED.with(|d| d.borrow_mut().take()));
    std::task::RawWaker::new(std::ptr::null(), &DOOMING_VTABLE)
}

fn dooming_wake(_: *const ()) {
    CLONE_WAKES.with(|w| w.set(w.get() + 1));
}

/// The handle clones the awaiter's waker (user code) before it stores it;
/// if that clone completes the task (here: it drops the task's runtime),
/// the handle must not wait for a completion that has already happened.
#[test]
fn a_task_completed_while_the_awaiters_waker_is_cloned_is_not_lost() {
    let rt = Runtime::new().unwrap();
    let mut h = rt.spawn(pending::<()>());
    DOOMED.with(|d| *d.borrow_mut() = Some(rt));
    // SAFETY: the vtable's functions ignore the data pointer and own
    // nothing, so any pointer (null) is valid for them.
    let w = unsafe { Waker::from_raw(std::task::RawWaker::new(std::ptr::null(), &DOOMING_VTABLE)) };
    let first = poll_once(&mut h, &w);
    assert!(h.is_finished(), "the runtime was not dropped by the clone");
    let woken = CLONE_WAKES.with(Cell::get);
    match first {
        Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
        Poll::Ready(Ok(())) => panic!("a pending task returned"),
        // Pending is fine only if the waker was woken to poll again.
        Poll::Pending => assert!(
            woken > 0,
            "the handle waits for a task that has finished: lost wakeup"
        ),
    }
}

thread_local! {
    static HELD: RefCell<Option<(Runtime, JoinHandle<()>)>> = const { RefCell::new(None) };
}

/// A waker whose destructor panics.
struct PanicOnDropWaker;

impl Wake for PanicOnDropWaker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicOnDropWaker {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("waker's drop panics");
        }
    }
}

/// The waker table is torn down at thread exit while it still holds the
/// waker of a handle whose runtime lives in a later thread-local: a panic
/// in that waker's destructor is caught like any other waker panic, rather
/// than unwinding out of a thread-local destructor (which aborts the
/// process).
#[test]
fn a_panicking_join_waker_dropped_at_thread_exit_is_contained() {
    std::thread::spawn(|| {
        // Used before the table, so torn down after it.
        HELD.with(|_| ());
        let rt = Runtime::new().unwrap();
        let mut h = rt.spawn(pending::<()>());
        let w = Waker::from(Arc::new(PanicOnDropWaker));
        assert!(poll_once(&mut h, &w).is_pending());
        drop(w);
        HELD.with(|s| *s.borrow_mut() = Some((rt, h)));
    })
    .join()
    .unwrap();
}

/// Std threads clone, wake and drop the wakers of tasks while the runtime
/// thread completes them, reads some outputs, and drops handles before and
/// after completion: every output is dropped once, on the runtime thread,
/// and the last reference (often a remote one) frees each cell once.
#[test]
fn remote_wakers_race_completion_and_handle_drops() {
    let rounds = 200;
    for round in 0..rounds {
        let drops = Rc::new(Cell::new(0u32));
        let (tx, rx) = mpsc::channel::<Waker>();
        let hammer = std::thread::spawn(move || {
            let mut held = Vec::new();
            for w in rx {
                for _ in 0..4 {
                    // A clone that takes a reference and gives it back.
                    let c = w.clone();
                    c.wake();
                    w.wake_by_ref();
                }
                held.push(w);
            }
            // The last references go on this thread, after the runtime.
            drop(held);
        });
        tern::block_on(async {
            let (done_tx, mut done_rx) = tern::sync::mpsc::unbounded_channel::<()>();
            let mut hs = Vec::new();
            for i in 0..16u32 {
                let tx = tx.clone();
                let done_tx = done_tx.clone();
                let d = drops.clone();
                let mut polls = 0;
                hs.push(tern::spawn(poll_fn(move |cx| {
                    polls += 1;
                    let _ = tx.send(cx.waker().clone());
                    if polls < 1 + (i + round) % 3 {
                        // Runs again whatever the remote wakes do.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    struct Out(Rc<Cell<u32>>, u32);
                    impl Drop for Out {
                        fn drop(&mut self) {
                            self.0.set(self.0.get() + 1);
                        }
                    }
                    let _ = done_tx.send(());
                    Poll::Ready(Out(d.clone(), i))
                })));
            }
            tern::yield_now().await;
            let mut read = 0;
            for (i, h) in hs.into_iter().enumerate() {
                match i % 3 {
                    0 => drop(h),
                    1 => {
                        let out = h.await.unwrap();
                        assert_eq!(out.1 as usize, i);
                        read += 1;
                    }
                    _ => {
                        let mut h = h;
                        let (_c, w) = counting();
                        let _ = poll_once(&mut h, &w);
                        tern::yield_now().await;
                        drop(h);
                    }
                }
            }
            // Every task completes (a remote wake may hold it back a while).
            for _ in 0..16 {
                done_rx.recv().await.unwrap();
            }
            assert!(read > 0);
        });
        drop(tx);
        assert_eq!(drops.get(), 16, "round {round}: outputs dropped");
        hammer.join().unwrap();
    }
}
