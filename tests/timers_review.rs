//! Timers and parking under review: a sleep moved to an earlier deadline
//! while registered, a sleep moved between runtimes, extreme deadlines,
//! a waker that drops another sleep of the same heap while timers fire,
//! a panicking timer waker, missed interval ticks on a paused clock, and
//! remote wake-ups as the only wake source around the spin and park
//! windows.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

#[path = "common/runtimes.rs"]
mod runtimes;
use runtimes::runtimes;
use tern::time::{sleep, sleep_until, timeout};

/// Polls `f` once, registering it if it is a timer.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

#[test]
fn sleep_reset_to_an_earlier_deadline_while_registered_fires_then() {
    for rt in runtimes() {
        rt.block_on(async {
            let mut s = Box::pin(sleep(Duration::from_secs(10)));
            assert!(poll_once(&mut s).await.is_pending());
            assert_eq!(tern::current_metrics().unwrap().timers, 1);
            let start = Instant::now();
            s.as_mut().reset(Instant::now() + Duration::from_millis(5));
            s.await;
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(tern::current_metrics().unwrap().timers, 0);
        });
    }
}

#[test]
fn sleep_reset_into_the_past_while_registered_fires_at_once() {
    for rt in runtimes() {
        rt.block_on(async {
            let mut s = Box::pin(sleep(Duration::from_secs(10)));
            assert!(poll_once(&mut s).await.is_pending());
            s.as_mut().reset(Instant::now() - Duration::from_millis(1));
            // The timeout's own timer would end the wait anyway (the sleep
            // is polled first): the time taken is what tells.
            let start = Instant::now();
            let r = timeout(Duration::from_secs(2), s).await;
            assert!(r.is_ok());
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
        });
    }
}

#[test]
fn sleep_registered_on_one_runtime_completes_on_another() {
    let a = tern::Runtime::new().unwrap();
    let b = tern::Runtime::new().unwrap();
    let mut s = Box::pin(sleep(Duration::from_millis(20)));
    a.block_on(async {
        assert!(poll_once(&mut s).await.is_pending());
    });
    assert_eq!(a.metrics().timers, 1);
    b.block_on(async {
        let start = Instant::now();
        let r = timeout(Duration::from_secs(2), &mut s).await;
        assert!(r.is_ok());
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "moved sleep fired late: {took:?}"
        );
    });
    assert_eq!(a.metrics().timers, 0);
    assert_eq!(b.metrics().timers, 0);
}

#[test]
fn deadlines_far_in_the_future_neither_panic_nor_fire() {
    for rt in runtimes() {
        rt.block_on(async {
            let far = Instant::now() + Duration::from_secs(1 << 40);
            let r = timeout(Duration::from_millis(5), sleep_until(far)).await;
            assert!(r.is_err());
            let r = timeout(Duration::from_millis(5), sleep(Duration::MAX)).await;
            assert!(r.is_err());
            // Parked until the far deadline alone would hang: a nearer one
            // wins.
            let mut lone = Box::pin(sleep_until(far));
            assert!(poll_once(&mut lone).await.is_pending());
            sleep(Duration::from_millis(2)).await;
        });
    }
}

// ===== a waker that drops another sleep of the same heap =====

struct Dropper {
    victim: RefCell<Option<Pin<Box<tern::time::Sleep>>>>,
    inner: Waker,
    panic: bool,
}

static DROPPER_VTABLE: RawWakerVTable = RawWakerVTable::new(
    dropper_clone,
    dropper_wake,
    dropper_wake_by_ref,
    dropper_drop,
);

fn dropper_waker(d: Rc<Dropper>) -> Waker {
    let raw = RawWaker::new(Rc::into_raw(d) as *const (), &DROPPER_VTABLE);
    // SAFETY: the waker is only used on this thread (the runtime thread),
    // and the data pointer is an Rc count that the vtable manages.
    unsafe { Waker::from_raw(raw) }
}

unsafe fn dropper_clone(p: *const ()) -> RawWaker {
    // SAFETY: p is a live Rc<Dropper> count.
    unsafe { Rc::increment_strong_count(p as *const Dropper) };
    RawWaker::new(p, &DROPPER_VTABLE)
}

unsafe fn dropper_wake(p: *const ()) {
    /// Releases the waker's count even when the wake panics.
    struct Release(*const ());
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: the waker's own count, released once.
            unsafe { dropper_drop(self.0) };
        }
    }
    let _release = Release(p);
    // SAFETY: as for wake_by_ref; the count is released by `_release`.
    unsafe { dropper_wake_by_ref(p) };
}

unsafe fn dropper_wake_by_ref(p: *const ()) {
    // SAFETY: p is a live Rc<Dropper> count.
    let d = unsafe { &*(p as *const Dropper) };
    let victim = d.victim.borrow_mut().take();
    drop(victim);
    d.inner.wake_by_ref();
    if d.panic {
        panic!("timer waker panics on purpose");
    }
}

unsafe fn dropper_drop(p: *const ()) {
    // SAFETY: p is an Rc<Dropper> count owned by the waker.
    unsafe { Rc::decrement_strong_count(p as *const Dropper) };
}

fn waker_dropping_a_sleep_while_timers_fire(panic: bool) {
    tern::block_on(async move {
        let inner = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let mut victim = Box::pin(sleep(Duration::from_secs(10)));
        assert!(poll_once(&mut victim).await.is_pending());
        let d = Rc::new(Dropper {
            victim: RefCell::new(Some(victim)),
            inner,
            panic,
        });
        let mut first = Box::pin(sleep(Duration::from_millis(2)));
        // A bystander due at the same time must fire too.
        let mut bystander = Box::pin(sleep(Duration::from_millis(2)));
        {
            let w = dropper_waker(d.clone());
            let mut cx = Context::from_waker(&w);
            assert!(first.as_mut().poll(&mut cx).is_pending());
        }
        assert!(poll_once(&mut bystander).await.is_pending());
        assert_eq!(tern::current_metrics().unwrap().timers, 3);
        let r = timeout(Duration::from_secs(2), &mut bystander).await;
        assert!(r.is_ok());
        assert!(d.victim.borrow().is_none(), "the waker did not run");
        drop(first);
        assert_eq!(tern::current_metrics().unwrap().timers, 0);
    });
}

#[test]
fn a_timer_waker_may_drop_another_sleep_of_the_same_runtime() {
    waker_dropping_a_sleep_while_timers_fire(false);
}

#[test]
fn a_panicking_timer_waker_does_not_stop_other_timers() {
    waker_dropping_a_sleep_while_timers_fire(true);
}

// ===== missed interval ticks on a paused clock =====

#[tern::test(start_paused = true)]
async fn missed_interval_ticks_burst_then_keep_the_schedule() {
    let mut iv = tern::time::interval(Duration::from_millis(10));
    let base = iv.tick().await;
    tern::time::advance(Duration::from_millis(35)).await;
    for k in 1..=3 {
        let t = iv.tick().await;
        assert_eq!(t, base + Duration::from_millis(10 * k));
        assert_eq!(tern::time::now(), base + Duration::from_millis(35));
    }
    let t = iv.tick().await;
    assert_eq!(t, base + Duration::from_millis(40));
    assert_eq!(tern::time::now(), base + Duration::from_millis(40));
}

#[tern::test(start_paused = true)]
async fn a_paused_clock_with_only_a_reset_sleep_jumps_to_its_new_deadline() {
    let start = tern::time::now();
    let mut s = Box::pin(sleep(Duration::from_secs(3600)));
    assert!(poll_once(&mut s).await.is_pending());
    s.as_mut().reset(start + Duration::from_secs(5));
    s.await;
    assert_eq!(tern::time::now(), start + Duration::from_secs(5));
}

// ===== remote wake-ups as the only wake source =====

#[test]
fn remote_wakeups_around_the_spin_and_park_windows_are_never_lost() {
    for rt in runtimes() {
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<(Waker, u32)>();
            let peer = std::thread::spawn(move || {
                while let Ok((w, spins)) = rx.recv() {
                    for _ in 0..spins {
                        std::hint::spin_loop();
                    }
                    w.wake();
                }
            });
            let mut x: u32 = 12345;
            for i in 0..2000u32 {
                // Delays from none to ~tens of microseconds: the wake lands
                // before, during and after the remote spin and park_begin.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let spins = if i % 4 == 0 { 0 } else { x % 20_000 };
                let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let mut sent = false;
                let wait = poll_fn(|cx| {
                    if done.load(std::sync::atomic::Ordering::Acquire) {
                        return Poll::Ready(());
                    }
                    if !sent {
                        sent = true;
                        let done = done.clone();
                        let w = cx.waker().clone();
                        let w = Waker::from(Arc::new(SetThenWake(done, w)));
                        tx.send((w, spins)).unwrap();
                    }
                    Poll::Pending
                });
                // A lost wake-up would be rescued by the timeout's timer
                // (the future is polled first, so it still completes): the
                // time taken is what tells.
                let start = Instant::now();
                let r = timeout(Duration::from_secs(2), wait).await;
                let took = start.elapsed();
                assert!(r.is_ok(), "remote wake-up {i} lost");
                assert!(
                    took < Duration::from_secs(1),
                    "remote wake-up {i} took {took:?}"
                );
            }
            drop(tx);
            peer.join().unwrap();
        });
    }
}

struct SetThenWake(Arc<std::sync::atomic::AtomicBool>, Waker);

impl std::task::Wake for SetThenWake {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
        self.1.wake_by_ref();
    }
}

// ===== a panicking waker during `advance` =====

/// `advance` fires every due timer; a waker that panics must not leave the
/// timers fired after it (their wakers taken, never woken) so that their
/// tasks hang, as `fire_timers` already ensures for the executor's turns.
#[tern::test(start_paused = true)]
async fn a_panicking_waker_in_advance_does_not_strand_other_timers() {
    let deadline = tern::time::now() + Duration::from_millis(10);
    let inner = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    let d = Rc::new(Dropper {
        victim: RefCell::new(None),
        inner,
        panic: true,
    });
    // Fires first (same deadline, made first).
    let mut first = Box::pin(sleep_until(deadline));
    {
        let w = dropper_waker(d);
        let mut cx = Context::from_waker(&w);
        assert!(first.as_mut().poll(&mut cx).is_pending());
    }
    let other = tern::spawn(async move { sleep_until(deadline).await });
    tern::yield_now().await;
    assert_eq!(tern::current_metrics().unwrap().timers, 2);
    let advancer = tern::spawn(tern::time::advance(Duration::from_millis(20)));
    let _ = advancer.await;
    let r = timeout(Duration::from_secs(1), other).await;
    assert!(r.is_ok(), "a timer fired by advance was never woken");
    drop(first);
}
