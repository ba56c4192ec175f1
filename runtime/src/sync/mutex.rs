//! [`Mutex`]: an async mutual-exclusion lock, fair (first come, first served).
//!
//! # Implementation
//!
//! A one-permit [`Semaphore`] decides who holds the lock, so waiting is
//! fair and a cancelled [`lock`](Mutex::lock) gives up its place (or hands
//! the lock on) exactly as a cancelled acquire does. The value sits in a
//! `std::sync::Mutex` that only the permit holder ever locks, so that lock
//! is never contended; it lets the guard hand out `&mut T` without
//! `unsafe`. A panic while the guard is held does not poison the lock.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use super::semaphore::{Semaphore, SemaphorePermit};

/// An async mutex: [`lock`](Mutex::lock) waits without blocking the thread.
///
/// `Send` and `Sync` when `T: Send`.
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    value: std::sync::Mutex<T>,
}

/// Exclusive access to a [`Mutex`]'s value; dropping it unlocks.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Declared first: unlocked before the permit goes back.
    value: std::sync::MutexGuard<'a, T>,
    _permit: SemaphorePermit<'a>,
}

/// [`Mutex::try_lock`] found the mutex locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl<T> Mutex<T> {
    /// A mutex holding `value`, unlocked.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            sem: Semaphore::new(1),
            value: std::sync::Mutex::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.value
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock. Waiters get it in the order they asked.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        match self.sem.acquire().await {
            Ok(permit) => self.guard(permit),
            Err(_) => unreachable!("a Mutex's semaphore is never closed"),
        }
    }

    /// Takes the lock from a thread outside any runtime, parking the thread
    /// while it waits (in line with the tasks that wait).
    ///
    /// # Panics
    /// Inside a tern runtime.
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        super::park::wait("Mutex::blocking_lock", self.lock())
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire() {
            Ok(permit) => Ok(self.guard(permit)),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through exclusive access to the mutex itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    fn guard<'a>(&'a self, permit: SemaphorePermit<'a>) -> MutexGuard<'a, T> {
        // Only the permit holder locks `value`, so this never waits.
        let value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        MutexGuard {
            value,
            _permit: permit,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(g) => d.field("value", &&*g),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mutex is locked")
    }
}

impl std::error::Error for TryLockError {}
