//! The runtime's clock: real time, or a paused clock that tests move by
//! hand ([`pause`](super::pause), [`advance`](super::advance),
//! [`resume`](super::resume)), as tokio's `test-util` clock.
//!
//! # Implementation
//!
//! The clock is real time plus a signed offset. While paused it is frozen
//! at one instant; `advance` moves that instant, and `resume` turns the
//! frozen instant back into an offset from real time, so time never goes
//! backwards. When a paused runtime has nothing to run and no I/O or
//! wake-up is ready, the executor jumps the clock to the next timer
//! deadline instead of sleeping (auto-advance), so a test of a 30 s
//! timeout runs in microseconds and always the same way.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// One runtime's clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// The frozen instant while paused.
    frozen: Cell<Option<Instant>>,
    /// Nanoseconds added to real time while running (may be negative).
    offset_ns: Cell<i128>,
}

impl Clock {
    /// The clock's reading.
    pub(crate) fn now(&self) -> Instant {
        if let Some(t) = self.frozen.get() {
            return t;
        }
        match self.offset_ns.get() {
            // Never paused: the real clock as it is.
            0 => Instant::now(),
            ns => shift(Instant::now(), ns),
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.frozen.get().is_some()
    }

    /// Freezes the clock at its current reading.
    pub(crate) fn pause(&self) {
        if !self.is_paused() {
            self.frozen.set(Some(self.now()));
        }
    }

    /// Lets the clock run again from its frozen reading.
    pub(crate) fn resume(&self) {
        if let Some(t) = self.frozen.take() {
            let real = Instant::now();
            let ahead = t.saturating_duration_since(real).as_nanos() as i128;
            let behind = real.saturating_duration_since(t).as_nanos() as i128;
            self.offset_ns.set(ahead - behind);
        }
    }

    /// Moves a paused clock forward to `t` (never backwards).
    pub(crate) fn advance_to(&self, t: Instant) {
        if let Some(now) = self.frozen.get() {
            self.frozen.set(Some(now.max(t)));
        }
    }
}

/// `t` moved by `ns` nanoseconds, saturating where `Instant` cannot go.
fn shift(t: Instant, ns: i128) -> Instant {
    let d = Duration::from_nanos(ns.unsigned_abs().min(u128::from(u64::MAX)) as u64);
    if ns >= 0 {
        t.checked_add(d).unwrap_or(t)
    } else {
        t.checked_sub(d).unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_stands_still_and_moves_only_forward() {
        let c = Clock::default();
        c.pause();
        let t = c.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.now(), t);
        c.advance_to(t + Duration::from_secs(30));
        assert_eq!(c.now(), t + Duration::from_secs(30));
        c.advance_to(t);
        assert_eq!(c.now(), t + Duration::from_secs(30), "went backwards");
        c.resume();
        assert!(c.now() >= t + Duration::from_secs(30));
        assert!(!c.is_paused());
    }
}
