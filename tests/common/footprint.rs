//! What an operation must leave behind: nothing. A [`Footprint`] is the
//! process's open fds with the runtime's registered sockets, tasks and
//! timers; tests take it before and after and compare.
//!
//! fd counts are per process, so the tests that compare them take turns
//! ([`SERIAL`]).

use std::future::Future;
use std::sync::Mutex;

/// Held by each test that counts fds, for its whole run.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on a fresh runtime while no other test of this file runs.
pub fn serial<F: Future>(f: F) -> F::Output {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tern::block_on(f);
    // The resolver's idle sockets stay in this thread's pool until the
    // thread ends, after the turn is over: close them while it lasts.
    tern::dns::close_idle_sockets();
    out
}

/// What must be back to its starting value when an operation is over.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Footprint {
    pub fds: usize,
    pub io_sources: usize,
    pub tasks: usize,
    pub timers: usize,
}

/// The footprint now (inside a runtime). The resolver's idle UDP sockets,
/// kept for reuse by design, are closed first: only what an operation left
/// outside that pool counts.
pub fn footprint() -> Footprint {
    tern::dns::close_idle_sockets();
    let m = tern::current_metrics().unwrap();
    Footprint {
        fds: tern::sys::process::open_fd_count().unwrap(),
        io_sources: m.io_sources,
        tasks: m.tasks,
        timers: m.timers,
    }
}
