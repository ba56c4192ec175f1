//! The three runtimes behind one trait, so every benchmark is the same
//! code on each: tern, tokio's current_thread runtime with a `LocalSet`
//! (tern's tasks are `!Send`, so `spawn_local` is the fair peer), and smol
//! (`async_executor::LocalExecutor` driven by `async_io::block_on`); and
//! for the task rows a bare `async_task` + `VecDeque` loop, as a floor.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_executor::LocalExecutor;

/// A single-threaded runtime under test.
pub trait Rt: 'static {
    /// Column id in the report.
    const COLUMN: &'static str;
    /// Awaits a spawned task's output.
    type Join<T: 'static>: Future<Output = T> + Unpin;
    /// The runtime's sleep future.
    type Sleep: Future<Output = ()>;
    /// Creates a fresh runtime on this thread and runs `f` on it; tasks
    /// still pending afterwards are dropped with the runtime.
    fn block_on<F: Future>(f: F) -> F::Output;
    /// Spawns a local (`!Send`) task.
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static;
    /// Spawns a task nobody joins.
    fn detach<F: Future<Output = ()> + 'static>(f: F);
    /// The runtime's `yield_now`.
    fn yield_now() -> impl Future<Output = ()>;
    /// The runtime's sleep.
    fn sleep(d: Duration) -> Self::Sleep;
}

// ===== tern =====

/// tern.
#[derive(Debug)]
pub struct Tern;

/// A tern join handle that unwraps the task's result.
#[derive(Debug)]
pub struct TernJoin<T>(tern::JoinHandle<T>);

impl<T> Future for TernJoin<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|e| panic!("benchmark task failed: {e}")))
    }
}

impl Rt for Tern {
    const COLUMN: &'static str = "tern";
    type Join<T: 'static> = TernJoin<T>;
    type Sleep = tern::time::Sleep;

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = tern::Runtime::new().unwrap_or_else(|e| panic!("tern runtime: {e}"));
        rt.block_on(f)
    }
    fn spawn<F>(f: F) -> TernJoin<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        TernJoin(tern::spawn(f))
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        drop(tern::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> {
        tern::yield_now()
    }
    fn sleep(d: Duration) -> tern::time::Sleep {
        tern::time::sleep(d)
    }
}

// ===== tokio =====

/// tokio's current_thread runtime with a `LocalSet`.
#[derive(Debug)]
pub struct Tokio;

/// A tokio join handle that unwraps the task's result.
#[derive(Debug)]
pub struct TokioJoin<T>(tokio::task::JoinHandle<T>);

impl<T> Future for TokioJoin<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|e| panic!("benchmark task failed: {e}")))
    }
}

/// The tokio runtime the benchmarks use.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

impl Rt for Tokio {
    const COLUMN: &'static str = "tokio";
    type Join<T: 'static> = TokioJoin<T>;
    type Sleep = tokio::time::Sleep;

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = tokio_runtime();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, f)
    }
    fn spawn<F>(f: F) -> TokioJoin<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        TokioJoin(tokio::task::spawn_local(f))
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        drop(tokio::task::spawn_local(f));
    }
    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }
    fn sleep(d: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(d)
    }
}

// ===== smol =====

/// smol: a `LocalExecutor` driven by `async_io::block_on`.
#[derive(Debug)]
pub struct Smol;

thread_local! {
    static SMOL: RefCell<Option<Rc<LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

fn smol_executor() -> Rc<LocalExecutor<'static>> {
    SMOL.with(|s| s.borrow().clone())
        .unwrap_or_else(|| panic!("smol spawn outside Smol::block_on"))
}

/// `async_io::Timer` as a future of `()`.
#[derive(Debug)]
pub struct SmolSleep(async_io::Timer);

impl Future for SmolSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Rt for Smol {
    const COLUMN: &'static str = "smol";
    type Join<T: 'static> = async_executor::Task<T>;
    type Sleep = SmolSleep;

    fn block_on<F: Future>(f: F) -> F::Output {
        let ex = Rc::new(LocalExecutor::new());
        let prev = SMOL.with(|s| s.replace(Some(ex.clone())));
        let out = async_io::block_on(ex.run(f));
        SMOL.with(|s| *s.borrow_mut() = prev);
        drop(ex);
        out
    }
    fn spawn<F>(f: F) -> async_executor::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        smol_executor().spawn(f)
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        smol_executor().spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
    fn sleep(d: Duration) -> SmolSleep {
        SmolSleep(async_io::Timer::after(d))
    }
}

// ===== the bare loop (a floor, not a runtime) =====

/// The floor for task operations: `async_task` tasks on a thread-local
/// `VecDeque`, run in FIFO order, and nothing else (no I/O, no timers, no
/// cross-thread wake-ups, no shutdown). What a task costs with a minimal
/// executor around the `async_task` allocation that smol uses; only the
/// task rows run on it.
#[derive(Debug)]
pub struct Bare;

thread_local! {
    static BARE_QUEUE: RefCell<std::collections::VecDeque<async_task::Runnable>> =
        const { RefCell::new(std::collections::VecDeque::new()) };
}

fn bare_schedule(r: async_task::Runnable) {
    BARE_QUEUE.with(|q| q.borrow_mut().push_back(r));
}

/// The main future's wake-up flag.
struct BareMain(std::sync::atomic::AtomicBool);

impl std::task::Wake for BareMain {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The bare loop has no timers: a benchmark that sleeps on it is a bug.
#[derive(Debug)]
pub struct NoTimer;

impl Future for NoTimer {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("the bare async-task loop has no timers")
    }
}

impl Rt for Bare {
    const COLUMN: &'static str = "bare";
    type Join<T: 'static> = async_task::Task<T>;
    type Sleep = NoTimer;

    fn block_on<F: Future>(f: F) -> F::Output {
        use std::sync::atomic::Ordering::Relaxed;
        let main = std::sync::Arc::new(BareMain(std::sync::atomic::AtomicBool::new(true)));
        let waker = std::task::Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        let out = loop {
            // A plain load while the flag is down: no atomic
            // read-modify-write per task run.
            if main.0.load(Relaxed) {
                main.0.store(false, Relaxed);
                if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    break v;
                }
            }
            match BARE_QUEUE.with(|q| q.borrow_mut().pop_front()) {
                Some(r) => {
                    r.run();
                }
                None if main.0.load(Relaxed) => {}
                None => panic!("bare loop: nothing to run and the main future waits"),
            }
        };
        // Tasks still queued are dropped (cancelled) with the loop.
        let left: Vec<_> = BARE_QUEUE.with(|q| q.borrow_mut().drain(..).collect());
        drop(left);
        out
    }
    fn spawn<F>(f: F) -> async_task::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (runnable, task) = async_task::spawn_local(f, bare_schedule);
        runnable.schedule();
        task
    }
    fn detach<F: Future<Output = ()> + 'static>(f: F) {
        Self::spawn(f).detach();
    }
    fn yield_now() -> impl Future<Output = ()> {
        futures_lite::future::yield_now()
    }
    fn sleep(_: Duration) -> NoTimer {
        NoTimer
    }
}

/// One case per runtime and the bare loop, each running `$f::<R>($args)`.
#[macro_export]
macro_rules! per_runtime_and_bare {
    ($f:ident ( $($arg:expr),* )) => {{
        let [tern, tokio, smol] = $crate::per_runtime!($f($($arg),*));
        [
            tern,
            tokio,
            smol,
            $crate::harness::Case::new(<$crate::rt::Bare as $crate::rt::Rt>::COLUMN, move || $f::<$crate::rt::Bare>($($arg),*)),
        ]
    }};
}

/// One case per runtime, each running `$f::<R>($args)`.
#[macro_export]
macro_rules! per_runtime {
    ($f:ident ( $($arg:expr),* )) => {
        [
            $crate::harness::Case::new(<$crate::rt::Tern as $crate::rt::Rt>::COLUMN, move || $f::<$crate::rt::Tern>($($arg),*)),
            $crate::harness::Case::new(<$crate::rt::Tokio as $crate::rt::Rt>::COLUMN, move || $f::<$crate::rt::Tokio>($($arg),*)),
            $crate::harness::Case::new(<$crate::rt::Smol as $crate::rt::Rt>::COLUMN, move || $f::<$crate::rt::Smol>($($arg),*)),
        ]
    };
}
