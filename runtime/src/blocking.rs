//! [`spawn_blocking`]: a small pool of threads for blocking work.
//!
//! # Implementation
//!
//! One pool per process. A job is queued under a mutex; an idle thread
//! takes it, or a new thread is started if none is idle and the pool is
//! below [`MAX_THREADS`]. Threads idle for the keep-alive ([`KEEP_ALIVE`]
//! unless a `Builder` set another) exit. The result travels back through a
//! slot shared with an ordinary task on the runtime, which the pool thread
//! wakes (a remote wake: inject queue + eventfd). A panic in the job is
//! caught and re-raised inside that task, so the JoinHandle reports it as
//! `is_panic()`.
//!
//! A worker never unwinds: the whole job, including dropping a result
//! nobody awaits any more (its `Drop` may panic) and waking the awaiting
//! task, runs under [`unwind::catch`], so a pool thread survives anything
//! a job does and the thread count stays true.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::task::JoinHandle;
use crate::unwind;

/// Most threads the pool runs at once.
pub const MAX_THREADS: usize = 64;
/// How long an idle pool thread waits for work before exiting, by default.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The keep-alive in force, in nanoseconds.
static KEEP_ALIVE_NS: AtomicU64 = AtomicU64::new(KEEP_ALIVE.as_nanos() as u64);

/// Sets the keep-alive of the process's pool (from `Builder`).
pub(crate) fn set_keep_alive(d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    KEEP_ALIVE_NS.store(ns, Ordering::Relaxed);
}

fn keep_alive() -> Duration {
    Duration::from_nanos(KEEP_ALIVE_NS.load(Ordering::Relaxed))
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<PoolState>,
    cond: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    /// Threads waiting for work, not counting those already woken for a
    /// job (so a burst of jobs starts new threads instead of queueing
    /// behind one idle thread).
    idle: usize,
    /// Wake-ups sent by `submit` and not yet taken by a thread.
    notified: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(PoolState {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
        notified: 0,
    }),
    cond: Condvar::new(),
};

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.queue.push_back(job);
        if st.idle > 0 {
            // One idle thread is spoken for.
            st.idle -= 1;
            st.notified += 1;
            drop(st);
            self.cond.notify_one();
            return;
        }
        if st.threads < MAX_THREADS {
            st.threads += 1;
            drop(st);
            let spawned = thread::Builder::new()
                .name("tern-blocking".into())
                .spawn(move || self.worker());
            if spawned.is_err() {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.threads -= 1;
                // With no thread at all the job would never run: run it here.
                if st.threads == 0 {
                    if let Some(job) = st.queue.pop_back() {
                        drop(st);
                        job();
                    }
                }
            }
        }
    }

    fn worker(&'static self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                unwind::catch(job);
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Wait for a wake-up from `submit` (spurious ones go back to
            // waiting), or exit after the keep-alive without one.
            st.idle += 1;
            let deadline = Instant::now()
                .checked_add(keep_alive())
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let (next, _) = self
                    .cond
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner());
                st = next;
                if st.notified > 0 {
                    // `submit` already took us off the idle count.
                    st.notified -= 1;
                    break;
                }
                if Instant::now() >= deadline {
                    st.idle -= 1;
                    st.threads -= 1;
                    return;
                }
            }
        }
    }
}

struct Slot<T> {
    result: Option<thread::Result<T>>,
    waker: Option<Waker>,
}

struct BlockingTask<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for BlockingTask<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(Ok(v)) => Poll::Ready(v),
            Some(Err(panic)) => {
                drop(slot);
                resume_unwind(panic)
            }
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// Runs the blocking function `f` on the pool and awaits its result on the
/// current runtime. A panic in `f` comes back as a [`JoinError`] with
/// `is_panic()`. Aborting the handle stops waiting but cannot stop `f`.
///
/// [`JoinError`]: crate::JoinError
///
/// # Panics
/// Outside a runtime.
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let handle = crate::spawn(BlockingTask { slot: slot.clone() });
    POOL.submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            unwind::wake(w);
        }
        // If the awaiting task is gone (aborted, or its runtime shut down),
        // this was the last reference and the result is dropped here: a
        // panic in its `Drop` is caught by the worker, as is a panic
        // payload's own panicking `Drop`.
        drop(slot);
    }));
    handle
}
