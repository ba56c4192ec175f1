//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Deadlines are exact [`Instant`]s kept in the runtime's timer queue (sorted
//! runs for in-order deadlines, a heap for the rest) and are never fired
//! early. The runtime parks until shortly before the earliest
//! deadline and finishes the wait with a short spin, so `sleep(1ms)` takes
//! about 1.0x ms rather than the 5-10 % later that the kernel's timed
//! waits end on their own.
//!
//! A timer registers with the runtime on its first poll (so [`sleep`] may be
//! called outside a runtime) and is removed from it when dropped. A timer
//! polled in a runtime other than the one it registered with (made in one
//! `block_on`, awaited in the next) moves to the runtime polling it: timers
//! hold no OS resource, so nothing is lost and nothing hangs.

mod clock;
pub(crate) mod heap;

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::context;
use clock::Clock;
use heap::TimerHeap;

/// About 30 years: where deadlines saturate for huge durations.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `t + d`, saturating at ~30 years after `t` for huge durations.
fn saturating_add(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(|| t + FAR_FUTURE.min(d))
}

/// Deadline `d` from now, saturating at ~30 years for huge durations.
fn deadline_after(d: Duration) -> Instant {
    saturating_add(now(), d)
}

/// The current runtime's clock: [`Instant::now`] unless the clock was
/// paused ([`pause`]) or moved ([`advance`]); outside a runtime, always
/// `Instant::now()`. Timers, timeouts and intervals follow this clock;
/// code that calls `Instant::now()` itself does not.
pub fn now() -> Instant {
    context::with_core(|c| c.map(|c| c.timers().now())).unwrap_or_else(Instant::now)
}

fn current_timers(what: &str) -> Rc<Timers> {
    context::timers().unwrap_or_else(|| panic!("tern::time::{what} called outside a tern runtime"))
}

/// Pauses the current runtime's clock: [`now`] stands still, and when the
/// runtime has nothing to run and no I/O or wake-up is ready, the clock
/// jumps to the next timer's deadline at once instead of sleeping. Tests
/// of retry schedules and timeouts then run in microseconds and give the
/// same result every time (tokio's `time::pause`). A `spawn_blocking` job
/// does not hold the clock back.
///
/// # Panics
/// Outside a runtime.
pub fn pause() {
    current_timers("pause").clock.pause();
}

/// Lets a paused clock run again, from where it stands.
///
/// # Panics
/// Outside a runtime.
pub fn resume() {
    current_timers("resume").clock.resume();
}

/// Moves a paused clock forward by `d`, fires the timers that are due, and
/// lets the tasks they woke run before returning. Does nothing to a clock
/// that is not paused but yield.
///
/// # Panics
/// Outside a runtime.
pub async fn advance(d: Duration) {
    let timers = current_timers("advance");
    if timers.clock.is_paused() {
        timers.clock.advance_to(saturating_add(timers.now(), d));
        let mut fired = Vec::new();
        timers.fire(timers.now(), &mut fired);
        // As in the executor's turns: a waker that panics must not leave
        // the timers fired after it unwoken (their tasks would hang).
        fired.into_iter().for_each(crate::unwind::wake);
    }
    crate::yield_now().await;
}

/// The timers of one runtime, shared with its [`Sleep`]s, and its clock.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: RefCell<TimerHeap>,
    clock: Clock,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: RefCell::new(TimerHeap::new()),
            clock: Clock::default(),
        }
    }

    /// The runtime's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Whether the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.clock.is_paused()
    }

    /// Pauses the clock (for `Builder::start_paused`).
    pub(crate) fn pause(&self) {
        self.clock.pause();
    }

    /// Moves a paused clock to `t` (auto-advance).
    pub(crate) fn advance_to(&self, t: Instant) {
        self.clock.advance_to(t);
    }

    /// Timers waiting to fire.
    pub(crate) fn len(&self) -> usize {
        self.heap.borrow().len()
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.borrow().next_deadline()
    }

    /// Fires the timers due at `now`, appending their wakers to `out`.
    pub(crate) fn fire(&self, now: Instant, out: &mut Vec<Waker>) {
        self.heap.borrow_mut().fire(now, out);
    }
}

/// Waits until `d` has elapsed. `sleep(Duration::ZERO)` completes at once.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(deadline_after(d))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
    }
}

struct Entry {
    timers: Rc<Timers>,
    key: usize,
}

/// Future returned by [`sleep`] and [`sleep_until`].
pub struct Sleep {
    deadline: Instant,
    entry: Option<Entry>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed (on the runtime's clock).
    pub fn is_elapsed(&self) -> bool {
        now() >= self.deadline
    }

    /// Moves the deadline; the sleep is pending again until it.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some(e) = &self.entry {
            e.timers.heap.borrow_mut().reschedule(e.key, deadline);
        }
    }

    fn unregister(&mut self) {
        if let Some(e) = self.entry.take() {
            let waker = e.timers.heap.borrow_mut().remove(e.key);
            drop(waker);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Sleeps that are over at once (`sleep(Duration::ZERO)` in a loop,
        // an interval that is behind) yield after the budget, as in tokio.
        std::task::ready!(context::poll_budget(cx));
        context::charge(self.poll_deadline(cx))
    }
}

impl Sleep {
    fn poll_deadline(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(e) = &self.entry {
            if !context::is_current_timers(&e.timers) {
                // Registered with another runtime: move to this one.
                self.unregister();
                return self.poll_deadline(cx);
            }
            let mut heap = e.timers.heap.borrow_mut();
            if heap.is_fired(e.key) {
                drop(heap);
                self.unregister();
                return Poll::Ready(());
            }
            let old = heap.set_waker(e.key, cx.waker());
            drop(heap);
            drop(old);
            return Poll::Pending;
        }
        if now() >= self.deadline {
            return Poll::Ready(());
        }
        let timers = context::timers()
            .unwrap_or_else(|| panic!("tern::time::Sleep polled outside a tern runtime"));
        let key = timers
            .heap
            .borrow_mut()
            .insert(self.deadline, cx.waker().clone());
        self.entry = Some(Entry { timers, key });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish()
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}

/// Runs `future` for at most `d`. The future is polled before the timer,
/// so a future that is ready at once is never delayed or failed.
pub fn timeout<F: Future>(d: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(d), future)
}

/// Runs `future` until `deadline` at most.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

pin_project_lite::pin_project! {
    /// Future returned by [`timeout`].
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Gives the wrapped future back.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = context::has_budget();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let sleep = Pin::new(this.sleep);
        // A future that spent the last of the budget would otherwise get
        // the sleep refused on every poll, and the timeout would never
        // elapse: the deadline is looked at all the same (as in tokio).
        let elapsed = if had_budget && !context::has_budget() {
            sleep.poll_deadline(cx)
        } else {
            sleep.poll(cx)
        };
        match elapsed {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "tern::time::interval: period must be non-zero"
    );
    Interval {
        period,
        sleep: sleep_until(start),
    }
}

/// A stream of ticks made by [`interval`].
///
/// Ticks that were missed (the task was busy past several periods) are
/// delivered at once, one per call, until the schedule is caught up, as
/// tokio's default `MissedTickBehavior::Burst` does; the schedule never
/// drifts.
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => {
                let at = self.sleep.deadline();
                let next = saturating_add(at, self.period);
                self.sleep.reset(next);
                Poll::Ready(at)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(deadline_after(self.period));
    }
}
