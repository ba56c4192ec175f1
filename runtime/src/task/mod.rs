//! Tasks: the unit of scheduling, and the handles that await them.
//!
//! A spawned future lives in one heap allocation together with its
//! bookkeeping ([`raw`]), is referred to by raw pointers from the run queue,
//! the runtime's list of live tasks, its wakers and its [`JoinHandle`], and
//! is freed when the last of those references goes away.
//!
//! ```text
//!            spawn                  poll -> Pending
//!   (new) ----------> SCHEDULED ------------------> idle
//!                       ^   |                        |
//!                       |   | poll -> Ready / panic  | wake
//!                       |   v                        |
//!                       |  COMPLETE <-- abort -------+
//!                       +----------------------------+
//!   COMPLETE: the future is dropped, the output waits for the JoinHandle
//!   (or is dropped at once if the handle is gone).
//! ```

mod awaiters;
mod join;
pub(crate) mod raw;
mod state;

pub use join::{JoinError, JoinHandle};
