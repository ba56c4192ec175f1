//! The c-ares column of the DNS group: c-ares 1.18+ (the system's
//! libc-ares) driven from C in the benchmark's own thread, the way C
//! programs use it: `ares_query`, then a loop of `ares_getsock`, `poll` and
//! `ares_process_fd`, no helper thread (`src/dns_cares.c`, built by
//! `build.rs`). c-ares keeps one UDP socket per server for every query (its
//! default), and is asked with EDNS (payload 1232), as tern asks.

use std::net::SocketAddr;
use std::time::Instant;

use crate::dns::{take_names, TIMEOUT};
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
    use std::ffi::{CStr, CString};
    let csv = CString::new(server.to_string()).map_err(|e| format!("server address: {e}"))?;
    let inflight = i32::try_from(inflight.max(1)).map_err(|e| format!("inflight: {e}"))?;
    let timeout_ms = i32::try_from(TIMEOUT.as_millis()).unwrap_or(i32::MAX);
    let first = take_names(count);
    let mut lat = vec![0.0f64; count];
    let mut err = [0 as std::ffi::c_char; 256];
    let start = Instant::now();
    // SAFETY: `csv` is NUL-terminated; `lat` has room for `count` values and
    // `err` for `err.len()` bytes, and both outlive the call, which keeps no
    // pointer after it returns.
    let rc = unsafe {
        ffi::tern_cares_run(
            csv.as_ptr(),
            inflight,
            count,
            first,
            timeout_ms,
            1,
            lat.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len(),
        )
    };
    let secs = start.elapsed().as_secs_f64();
    if rc != 0 {
        // SAFETY: the C side always leaves a NUL-terminated string in `err`
        // (snprintf, or the empty string it starts with).
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
        return Err(msg.to_string_lossy().into_owned());
    }
    Ok(Rep {
        value: count as f64 / secs,
        samples: lat,
    })
}

/// Without libc-ares-dev at build time the column is skipped.
#[cfg(not(tern_cares))]
pub fn cares_lookups(_: SocketAddr, _: usize, _: usize) -> Result<Rep, String> {
    let _ = (TIMEOUT, Instant::now(), take_names(0));
    Err("libc-ares-dev missing at build time".into())
}
