//! The floor columns of the DNS group: the kernel's part of a lookup with
//! no resolver on top (`src/dns_floor.c`): ready-made queries, a random ID
//! each, epoll, and a reply taken on its source address, ID and QR bit
//! alone. `floor-reuse` sends every query on one socket, as c-ares does by
//! default; `floor-fresh` gives each query a fresh random source port the
//! way tern's default does (first `sendto` of an unbound socket, then
//! `connect(AF_UNSPEC)`). Floors for reference, never peers.

use std::ffi::{c_char, CStr, CString};
use std::net::SocketAddr;
use std::time::Instant;

use crate::dns::{take_names, TIMEOUT};
use crate::harness::Rep;

extern "C" {
    /// See `src/dns_floor.c`.
    fn tern_floor_run(
        ip: *const c_char,
        port: i32,
        inflight: i32,
        count: usize,
        first: u64,
        fresh: i32,
        timeout_ms: i32,
        lat: *mut f64,
        err: *mut c_char,
        errlen: usize,
    ) -> i32;
}

/// `count` lookups of the floor loop, `inflight` at a time, with a fresh
/// port per query or one socket for all.
pub fn floor_lookups(
    server: SocketAddr,
    inflight: usize,
    count: usize,
    fresh: bool,
) -> Result<Rep, String> {
    let ip = CString::new(server.ip().to_string()).map_err(|e| format!("server address: {e}"))?;
    let inflight = i32::try_from(inflight.max(1)).map_err(|e| format!("inflight: {e}"))?;
    run_c(count, |first, timeout_ms, lat, err, errlen| {
        // SAFETY: `ip` is NUL-terminated and outlives the call; `run_c`
        // gives room for `count` latencies and `errlen` bytes of message.
        unsafe {
            tern_floor_run(
                ip.as_ptr(),
                i32::from(server.port()),
                inflight,
                count,
                first,
                i32::from(fresh),
                timeout_ms,
                lat,
                err,
                errlen,
            )
        }
    })
}

/// Runs a C driver of `count` lookups: `call(first name number, timeout
/// in ms, latencies out, error message out, its room)` returns 0, or -1
/// with a NUL-terminated message. The rate, with the latencies as samples.
pub(crate) fn run_c(
    count: usize,
    call: impl FnOnce(u64, i32, *mut f64, *mut c_char, usize) -> i32,
) -> Result<Rep, String> {
    let timeout_ms = i32::try_from(TIMEOUT.as_millis()).unwrap_or(i32::MAX);
    let first = take_names(count);
    let mut lat = vec![0.0f64; count];
    let mut err = [0 as c_char; 256];
    let start = Instant::now();
    // `lat` has room for `count` values and `err` for `err.len()` bytes,
    // and both outlive the call, which keeps no pointer after it returns.
    let rc = call(
        first,
        timeout_ms,
        lat.as_mut_ptr(),
        err.as_mut_ptr(),
        err.len(),
    );
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
