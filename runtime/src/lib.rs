//! tern-runtime: a small, fast single-threaded async runtime for Linux.
//!
//! One thread runs an executor that parks on an epoll reactor; I/O sources
//! and timers wake tasks through wakers. This crate is re-exported by the
//! `tern` facade; most users write `tern::block_on`, `tern::spawn` and
//! `tern::time::sleep`.
//!
//! # Implementation
//!
//! Layers, each using only the ones before it:
//!
//! - `sys`: the only code that calls libc (epoll, eventfd, timerfd,
//!   sockets, getrandom), with a per-thread syscall counter. It is public
//!   for tern-net and tern's tests, hidden, and not part of the supported
//!   API.
//! - [`reactor`](crate::io): readiness cached per registered fd, one epoll
//!   registration per fd (edge-triggered, never re-armed), generation-checked
//!   tokens.
//! - [`time`]: a heap of exact deadlines; sleeps, timeouts, intervals.
//! - `context`: the runtime running on this thread (its reactor, timers
//!   and the cooperative budget), which timers, I/O sources and the
//!   executor reach instead of importing each other.
//! - `task` and `executor`: one allocation per task, a FIFO run queue, an
//!   inject queue and eventfd for wake-ups from other threads.
//! - On top, using only the public API of the layers below: [`sync`]
//!   (channels, `Notify`, `Semaphore`, `Mutex`; thread-safe), [`JoinSet`],
//!   [`process`] (pidfd-awaited children) and [`signal`] (self-pipe).
//!
//! Everything but the wakers is single-threaded (`Rc`, `Cell`), which is
//! what makes local spawns and wake-ups cheap: a wake on the runtime thread
//! is a push onto a `VecDeque`.

#![deny(unsafe_op_in_unsafe_fn)]

mod blocking;
mod context;
mod coop;
mod executor;
pub mod io;
mod join_set;
#[doc(hidden)]
pub mod macro_support;
pub mod process;
mod reactor;
mod runtime;
pub mod signal;
pub mod sync;
#[doc(hidden)]
pub mod sys;
mod task;
pub mod time;
mod unwind;

pub use blocking::spawn_blocking;
pub use coop::{cooperative, Cooperative};
pub use executor::{
    current_metrics, current_runtime_id, in_runtime, on_shutdown, others_ready, Metrics,
};
pub use join_set::{AbortHandle, JoinSet};
pub use runtime::{block_on, block_on_paused, spawn, yield_now, Builder, Runtime};
pub use task::{JoinError, JoinHandle};
