//! The runtime variants the timer tests run on: the default (epoll_pwait2
//! where the kernel has it), the timerfd backend, and spinning before a
//! park turned off.

use tern::sys::epoll::TimedWait;

/// One runtime of each variant.
pub fn runtimes() -> Vec<tern::Runtime> {
    vec![
        tern::Runtime::new().unwrap(),
        tern::Builder::new()
            .timed_wait(TimedWait::TimerFd)
            .build()
            .unwrap(),
        tern::Builder::new()
            .spin_before_park(false)
            .build()
            .unwrap(),
    ]
}
