//! tern: a small, fast async runtime for Linux.
//!
//! A single-threaded executor parks on an epoll reactor; I/O sources and
//! timers wake tasks through wakers. Write `tern::block_on(async { .. })`,
//! spawn `!Send` tasks with [`spawn`], sleep with [`time::sleep`], and test
//! with `#[tern::test]`.
//!
//! ```
//! let v = tern::block_on(async {
//!     let h = tern::spawn(async { 40 + 2 });
//!     tern::time::sleep(std::time::Duration::from_micros(100)).await;
//!     h.await.unwrap()
//! });
//! assert_eq!(v, 42);
//! ```
//!
//! The test and main attributes only accept an `async fn` without
//! arguments; anything else is a compile error that says so:
//!
//! ```compile_fail
//! #[tern::test]
//! fn not_async() {}
//! ```
//!
//! ```compile_fail
//! #[tern::main]
//! async fn main(arg: u32) {}
//! ```
//!
//! ```compile_fail
//! #[tern::test(flavor = "multi")]
//! async fn with_args() {}
//! ```

mod macros;

#[doc(hidden)]
pub mod __private {
    pub use tern_runtime::macro_support::*;
}

pub use tern_macros::{main, test};
#[doc(hidden)]
pub use tern_runtime::block_on_paused;
pub use tern_runtime::{
    block_on, cooperative, current_metrics, current_runtime_id, in_runtime, on_shutdown,
    others_ready, spawn, spawn_blocking, yield_now, AbortHandle, Builder, Cooperative, JoinError,
    JoinHandle, JoinSet, Metrics, Runtime,
};

/// Timers: sleeps, timeouts and intervals.
pub mod time {
    pub use tern_runtime::time::*;
}

/// Low-level building blocks: registered I/O sources and the OS layer, for
/// crates that build their own I/O types on tern.
pub mod io {
    pub use tern_runtime::io::*;
}

#[doc(hidden)]
pub use tern_runtime::sys;

/// Child processes: `Command`, `Child` and its async pipes.
pub mod process {
    pub use tern_runtime::process::*;
}

/// Unix signals as streams: `ctrl_c()`, `signal(SignalKind)`.
pub mod signal {
    pub use tern_runtime::signal::*;
}

/// Channels, `Notify`, `Semaphore` and `Mutex` for tasks and threads.
pub mod sync {
    pub use tern_runtime::sync::*;
}

/// The stub DNS resolver: `resolve`, `connect` (Happy Eyeballs),
/// `Resolver`, and the wire format.
pub mod dns {
    pub use tern_dns::*;
}

/// Async UDP and TCP sockets on the reactor.
pub mod net {
    pub use tern_net::*;
}
