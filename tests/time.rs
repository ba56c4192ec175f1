//! Timers: order, never early, reset, timeout, interval, scale, and the
//! timerfd fallback.

use std::cell::RefCell;
use std::future::{pending, poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

#[path = "common/runtimes.rs"]
mod runtimes;
use runtimes::runtimes;
use tern::time::{interval, sleep, sleep_until, timeout, Elapsed};

#[test]
fn timers_fire_in_deadline_order_on_both_backends() {
    for rt in runtimes() {
        let order = Rc::new(RefCell::new(Vec::new()));
        rt.block_on({
            let order = order.clone();
            async move {
                let hs: Vec<_> = [3u64, 1, 2, 5, 4]
                    .into_iter()
                    .map(|ms| {
                        let order = order.clone();
                        tern::spawn(async move {
                            sleep(Duration::from_micros(ms * 700)).await;
                            order.borrow_mut().push(ms);
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            }
        });
        assert_eq!(*order.borrow(), [1, 2, 3, 4, 5], "{:?}", rt.timed_wait());
    }
}

#[test]
fn sleeps_never_end_early_on_both_backends() {
    for rt in runtimes() {
        rt.block_on(async {
            for us in [1u64, 50, 100, 500, 1000, 1500] {
                let start = Instant::now();
                let d = Duration::from_micros(us);
                sleep(d).await;
                assert!(start.elapsed() >= d, "sleep({d:?}) ended early");
                let deadline = Instant::now() + d;
                sleep_until(deadline).await;
                assert!(Instant::now() >= deadline);
            }
        });
    }
}

#[tern::test]
async fn zero_sleep_completes_at_once() {
    let mut s = sleep(Duration::ZERO);
    let ready = poll_fn(|cx| Poll::Ready(Pin::new(&mut s).poll(cx).is_ready())).await;
    assert!(ready);
    assert_eq!(tern::current_metrics().unwrap().timers, 0);
}

#[tern::test]
async fn reset_moves_the_deadline() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let a = {
        let order = order.clone();
        tern::spawn(async move {
            let mut s = sleep(Duration::from_secs(60));
            // Register at 60 s, then pull it in.
            let _ = poll_fn(|cx| Poll::Ready(Pin::new(&mut s).poll(cx))).await;
            s.reset(Instant::now() + Duration::from_millis(1));
            s.await;
            order.borrow_mut().push("reset");
        })
    };
    let b = {
        let order = order.clone();
        tern::spawn(async move {
            sleep(Duration::from_millis(30)).await;
            order.borrow_mut().push("30ms");
        })
    };
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(*order.borrow(), ["reset", "30ms"]);
}

#[tern::test]
async fn timeout_hits() {
    let r: Result<(), Elapsed> = timeout(Duration::from_millis(1), pending::<()>()).await;
    let e = r.unwrap_err();
    assert_eq!(e.to_string(), "deadline has elapsed");
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(tern::current_metrics().unwrap().timers, 0);
}

#[tern::test]
async fn timeout_does_not_hit() {
    let r = timeout(Duration::from_secs(5), async {
        sleep(Duration::from_millis(1)).await;
        7
    })
    .await;
    assert_eq!(r, Ok(7));
    // The timeout's timer is cancelled, not left behind.
    assert_eq!(tern::current_metrics().unwrap().timers, 0);
}

#[tern::test]
async fn ready_future_inside_timeout_is_not_delayed() {
    let before = tern::current_metrics().unwrap();
    // Even a zero timeout lets a ready future through: it is polled first.
    assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
    assert_eq!(timeout(Duration::from_secs(1), async { 2 }).await, Ok(2));
    let after = tern::current_metrics().unwrap();
    assert_eq!(
        after.reactor_turns, before.reactor_turns,
        "no reactor turn was needed"
    );
    assert_eq!(after.timers, 0);
}

#[tern::test]
async fn interval_ticks_on_schedule() {
    let period = Duration::from_millis(1);
    let mut iv = interval(period);
    let first = iv.tick().await;
    let mut prev = first;
    for i in 1..=5u32 {
        let t = iv.tick().await;
        assert_eq!(
            t,
            first + period * i,
            "ticks follow the schedule without drift"
        );
        assert!(Instant::now() >= t, "tick delivered early");
        assert!(t > prev);
        prev = t;
    }
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn zero_interval_panics() {
    let _ = interval(Duration::ZERO);
}

#[tern::test]
async fn one_million_timers_created_polled_and_dropped() {
    const N: usize = 1_000_000;
    let mut sleeps: Vec<_> = (0..N as u64)
        .map(|i| sleep(Duration::from_secs(3600) + Duration::from_nanos(i % 997)))
        .collect();
    poll_fn(|cx| {
        for s in sleeps.iter_mut() {
            assert!(Pin::new(s).poll(cx).is_pending());
        }
        Poll::Ready(())
    })
    .await;
    assert_eq!(tern::current_metrics().unwrap().timers, N);
    // Drop every other one, then the rest.
    let mut keep = Vec::with_capacity(N / 2);
    for (i, s) in sleeps.into_iter().enumerate() {
        if i % 2 == 0 {
            keep.push(s);
        }
    }
    assert_eq!(tern::current_metrics().unwrap().timers, N / 2);
    drop(keep);
    assert_eq!(tern::current_metrics().unwrap().timers, 0);
}

#[tern::test]
async fn many_timers_fire_in_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut hs = Vec::new();
    // Far enough ahead that every timer is registered before the first fires.
    let base = Instant::now() + Duration::from_millis(50);
    for i in (0..2000u64).rev() {
        let order = order.clone();
        hs.push(tern::spawn(async move {
            sleep_until(base + Duration::from_micros(i * 3)).await;
            order.borrow_mut().push(i);
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let got = order.borrow();
    assert_eq!(got.len(), 2000);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "timers fired out of order"
    );
}

#[test]
#[should_panic(expected = "outside a tern runtime")]
fn sleep_polled_outside_runtime_panics() {
    let mut s = sleep(Duration::from_secs(1));
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let _ = Pin::new(&mut s).poll(&mut cx);
}
