//! Per-thread scheduling knobs.

/// Returns the calling thread's timer slack in nanoseconds.
pub fn timer_slack() -> Option<u64> {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer.
    syscall!(unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) })
        .ok()
        .map(|v| v as u64)
}

/// Sets the calling thread's timer slack in nanoseconds.
///
/// The default of 50 us makes every timed wait return late by up to that
/// much; the runtime thread asks for 1 ns while it runs so that
/// sub-millisecond sleeps are honoured.
pub fn set_timer_slack(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes an integer, no pointer.
    let _ = syscall!(unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            ns as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    });
}
