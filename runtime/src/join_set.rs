//! [`JoinSet`]: a set of spawned tasks whose outputs come back in the
//! order the tasks finish; dropping the set aborts them.
//!
//! # Implementation
//!
//! Built on the public task API only. The set keeps each task's
//! [`JoinHandle`] in a slab, with a generation per slot so an
//! [`AbortHandle`] of a task that is already gone cannot hit the task that
//! reuses its slot. Each handle is polled with a waker of its own that
//! pushes the slot's key onto a ready list and wakes whoever waits in
//! [`join_next`](JoinSet::join_next), so `join_next` polls only the tasks
//! that woke it (in wake order, which is completion order) instead of
//! every task. A stale key (its task already collected) costs one spurious
//! poll of whatever sits in that slot now, which is harmless.
//!
//! The slab sits in an `Rc<RefCell<..>>` that abort handles reach through a
//! `Weak`; no user code runs while it is borrowed (handles and outputs are
//! dropped after the borrow ends).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;

use crate::task::{JoinError, JoinHandle};

/// A set of tasks spawned on the current runtime; see the module docs.
///
/// ```
/// tern_runtime::block_on(async {
///     let mut set = tern_runtime::JoinSet::new();
///     for i in 0..3u32 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut sum = 0;
///     while let Some(res) = set.join_next().await {
///         sum += res.unwrap();
///     }
///     assert_eq!(sum, 30);
/// });
/// ```
pub struct JoinSet<T> {
    slots: Rc<RefCell<Slots<T>>>,
    ready: Arc<ReadyList>,
}

struct Slots<T> {
    tasks: Slab<Entry<T>>,
    next_gen: u64,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    gen: u64,
    waker: Waker,
    /// The output, when the first poll (at insertion) already had it.
    output: Option<Result<T, JoinError>>,
}

/// Cancels one task of a [`JoinSet`] without access to the set.
///
/// Aborting a task that has finished, or whose set is gone, does nothing.
#[derive(Clone)]
pub struct AbortHandle {
    target: Weak<dyn AbortTarget>,
    key: usize,
    gen: u64,
}

trait AbortTarget {
    fn abort(&self, key: usize, gen: u64);
    fn is_finished(&self, key: usize, gen: u64) -> bool;
}

/// Keys of tasks that woke, and the waker of the `join_next` caller.
struct ReadyList {
    state: Mutex<ReadyState>,
}

struct ReadyState {
    keys: VecDeque<usize>,
    waker: Option<Waker>,
}

struct EntryWaker {
    key: usize,
    ready: Arc<ReadyList>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waker = {
            let mut st = self.ready.lock();
            st.keys.push_back(self.key);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl ReadyList {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            slots: Rc::new(RefCell::new(Slots {
                tasks: Slab::new(),
                next_gen: 0,
            })),
            ready: Arc::new(ReadyList {
                state: Mutex::new(ReadyState {
                    keys: VecDeque::new(),
                    waker: None,
                }),
            }),
        }
    }

    /// Spawns `future` on the current runtime as a member of the set.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::spawn(future))
    }

    /// Runs `f` on the blocking pool as a member of the set. Aborting it
    /// only stops the set from waiting: a job that has started runs to the
    /// end.
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.insert(crate::spawn_blocking(f))
    }

    fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let mut slots = self.slots.borrow_mut();
        let gen = slots.next_gen;
        slots.next_gen += 1;
        let vacant = slots.tasks.vacant_entry();
        let key = vacant.key();
        let waker = Waker::from(Arc::new(EntryWaker {
            key,
            ready: self.ready.clone(),
        }));
        let mut handle = handle;
        // Poll once now so the task wakes the ready list when it finishes,
        // even if nobody is in join_next yet: that is what keeps outputs
        // in completion order.
        let output = match handle.poll_output(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        };
        let done = output.is_some();
        vacant.insert(Entry {
            handle,
            gen,
            waker,
            output,
        });
        drop(slots);
        if done {
            self.ready.lock().keys.push_back(key);
        }
        let target: Rc<dyn AbortTarget> = self.slots.clone();
        AbortHandle {
            target: Rc::downgrade(&target),
            key,
            gen,
        }
    }

    /// Waits for the next task to finish and gives its result; `None` when
    /// the set is empty. Cancel-safe: a dropped `join_next` loses no output.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Poll form of [`join_next`](JoinSet::join_next).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.is_empty() {
            return Poll::Ready(None);
        }
        // The set spends the budget itself, one unit per output, so a loop
        // over finished tasks yields like any other (see `poll_output`).
        std::task::ready!(crate::context::poll_budget(cx));
        crate::context::charge(self.poll_ready_entry(cx))
    }

    fn poll_ready_entry(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        loop {
            let key = {
                let mut st = self.ready.lock();
                match st.keys.pop_front() {
                    Some(k) => k,
                    None => {
                        match &mut st.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            slot => *slot = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            };
            if let Some(out) = self.poll_entry(key) {
                return Poll::Ready(Some(out));
            }
        }
    }

    /// The result of a task that has already finished, if any; never waits,
    /// so it is outside the cooperative budget (as in tokio).
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        if self.is_empty() {
            return None;
        }
        let waker = Waker::noop();
        match self.poll_ready_entry(&mut Context::from_waker(waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }

    /// Polls the task in slot `key`; removes it when it has finished.
    fn poll_entry(&mut self, key: usize) -> Option<Result<T, JoinError>> {
        let mut slots = self.slots.borrow_mut();
        let entry = slots.tasks.get_mut(key)?;
        let out = match entry.output.take() {
            Some(out) => out,
            None => {
                let waker = entry.waker.clone();
                match entry.handle.poll_output(&mut Context::from_waker(&waker)) {
                    Poll::Ready(out) => out,
                    Poll::Pending => return None,
                }
            }
        };
        let entry = slots.tasks.remove(key);
        drop(slots);
        drop(entry);
        Some(out)
    }

    /// Number of tasks in the set (finished ones count until collected).
    pub fn len(&self) -> usize {
        self.slots.borrow().tasks.len()
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Aborts every task; they stay in the set and come out of
    /// [`join_next`](JoinSet::join_next) as cancelled (or with their output,
    /// if they had finished already).
    pub fn abort_all(&mut self) {
        for (_, entry) in self.slots.borrow().tasks.iter() {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits until all of them are gone.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Empties the set without aborting: the tasks run on, detached.
    pub fn detach_all(&mut self) {
        let tasks = std::mem::take(&mut self.slots.borrow_mut().tasks);
        self.ready.lock().keys.clear();
        drop(tasks);
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        let tasks = std::mem::take(&mut self.slots.borrow_mut().tasks);
        for (_, entry) in tasks.iter() {
            entry.handle.abort();
        }
        drop(tasks);
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.slots.borrow().tasks.len())
            .finish()
    }
}

impl<T> AbortTarget for RefCell<Slots<T>> {
    fn abort(&self, key: usize, gen: u64) {
        // A failed borrow means the set is being changed right now (it
        // holds no borrow across user code), so this cannot happen from a
        // task; treat it as "already gone".
        if let Ok(slots) = self.try_borrow() {
            if let Some(e) = slots.tasks.get(key).filter(|e| e.gen == gen) {
                e.handle.abort();
            }
        }
    }

    fn is_finished(&self, key: usize, gen: u64) -> bool {
        match self.try_borrow() {
            Ok(slots) => slots
                .tasks
                .get(key)
                .filter(|e| e.gen == gen)
                .is_none_or(|e| e.handle.is_finished()),
            Err(_) => false,
        }
    }
}

impl AbortHandle {
    /// Cancels the task; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        if let Some(t) = self.target.upgrade() {
            t.abort(self.key, self.gen);
        }
    }

    /// Whether the task has finished (or its set is gone).
    pub fn is_finished(&self) -> bool {
        self.target
            .upgrade()
            .is_none_or(|t| t.is_finished(self.key, self.gen))
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
