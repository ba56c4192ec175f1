//! Synchronisation for tasks: channels ([`oneshot`], [`mpsc`], [`watch`]),
//! [`Notify`], [`Semaphore`] and [`Mutex`], with tokio's names.
//!
//! Every type here is usable from tasks and, when its values are `Send`,
//! from other threads too: a std thread or a `spawn_blocking` job can send
//! into a task, and the task is woken through the runtime's remote wake-up
//! path. Waiters are served first come, first served, and a cancelled
//! future (a `send`, `acquire`, `lock` or `notified` dropped part-way)
//! gives up its place without losing a message, a permit or a
//! notification.
//!
//! # Implementation
//!
//! Each type keeps its state behind one `std::sync::Mutex` (or an
//! `RwLock` for watch's value), except the two channels that std threads
//! feed most: `oneshot` (one state word) and the unbounded `mpsc` (a
//! lock-free list of blocks; its mutex holds only the receiver's waker,
//! touched once per park). On the runtime's own thread that lock is
//! never contended, so an operation costs one uncontended lock and no
//! syscall; a wake on the runtime thread is a push onto its run queue.
//! Waiters wait in a `WaitQueue` ordered by arrival; wakers
//! are always woken and values always dropped after the lock is released.

pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod park;
mod semaphore;
mod wait_queue;
pub mod watch;

pub use mutex::{Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use semaphore::{
    Acquire, AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
