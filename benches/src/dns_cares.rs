//! The c-ares column of the DNS group: c-ares 1.18+ (the system's
//! libc-ares) driven from C in the benchmark's own thread, the way C
//! programs use it: `ares_query`, then a loop of `ares_getsock`, `poll` and
//! `ares_process_fd`, no helper thread (`src/dns_cares.c`, built by
//! `build.rs`). c-ares keeps one UDP socket per server for every query (its
//! default), and is asked with EDNS (payload 1232), as tern asks.

use std::net::SocketAddr;

use crate::harness::Rep;

#[cfg(tern_cares)]
mod ffi {
    use std::ffi::c_char;

    extern "C" {
        /// See `src/dns_cares.c`.
        pub fn tern_cares_run(
            server: *const c_char,
            inflight: i32,
            count: usize,
            first: u64,
            timeout_ms: i32,
            edns: i32,
            lat: *mut f64,
            err: *mut c_char,
            errlen: usize,
        ) -> i32;
    }
}

/// `count` A lookups through c-ares, `inflight` at a time.
#[cfg(tern_cares)]
pub fn cares_lookups(server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
    use std::ffi::CString;
    let csv = CString::new(server.to_string()).map_err(|e| format!("server address: {e}"))?;
    let inflight = i32::try_from(inflight.max(1)).map_err(|e| format!("inflight: {e}"))?;
    crate::dns_floor::run_c(count, |first, timeout_ms, lat, err, errlen| {
        // SAFETY: `csv` is NUL-terminated and outlives the call; `run_c`
        // gives room for `count` latencies and `errlen` bytes of message.
        unsafe {
            ffi::tern_cares_run(
                csv.as_ptr(),
                inflight,
                count,
                first,
                timeout_ms,
                1,
                lat,
                err,
                errlen,
            )
        }
    })
}

/// Without libc-ares-dev at build time the column is skipped.
#[cfg(not(tern_cares))]
pub fn cares_lookups(_: SocketAddr, _: usize, _: usize) -> Result<Rep, String> {
    Err("libc-ares-dev missing at build time".into())
}
