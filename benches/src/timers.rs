//! Timer benchmarks: the cost of a sleep that never fires, many timers
//! firing, many pending timers cancelled, and how long short sleeps take.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::harness::{median, metric, metric_with_target, run_interleaved, Rep, Summary};
use crate::report::{Better, Metric, Target};
use crate::rt::Rt;
use crate::signal::LocalFlag;
use crate::{per_runtime, Ctx};

const GROUP: &str = "timers";

/// Runs the group.
pub fn run(ctx: &Ctx) -> Vec<Metric> {
    let mut out = Vec::new();
    let reps = ctx.reps;

    let n = ctx.n(200_000, 2_000);
    let o = run_interleaved(reps, &mut per_runtime!(create_poll_drop(n)));
    out.push(metric_with_target(
        GROUP,
        "sleep(1 s): create + poll once + drop",
        "ns",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::AtMost(150.0),
    ));

    let n = ctx.n(100_000, 1_000);
    let o = run_interleaved(reps, &mut per_runtime!(fire_many(n)));
    out.push(metric(
        GROUP,
        format!("{n} timers firing (1 task each, deadlines 1-2 ms)"),
        "ms total",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));

    let n = ctx.n(1_000_000, 10_000);
    let o = run_interleaved(reps, &mut per_runtime!(insert_cancel(n)));
    out.push(metric(
        GROUP,
        format!("{n} pending timers: insert, then cancel"),
        "ms total",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));

    for (d, label, target) in [
        (Duration::from_millis(1), "sleep(1ms)", Some(1050.0)),
        (Duration::from_micros(50), "sleep(50us)", None),
    ] {
        let n = ctx.n(200, 10);
        let o = run_interleaved(reps, &mut per_runtime!(sleep_accuracy(d, n)));
        let m = metric(
            GROUP,
            format!("{label} actual, median of {n}x{reps}"),
            "us",
            Better::Lower,
            Summary::PooledPercentile(50.0),
            &o,
        );
        out.push(match target {
            Some(t) => m.target(Target::AtMost(t)),
            None => m,
        });
        out.push(metric(
            GROUP,
            format!("{label} actual, p99"),
            "us",
            Better::Lower,
            Summary::PooledPercentile(99.0),
            &o,
        ));
    }
    out
}

fn create_poll_drop<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        poll_fn(|cx| {
            let start = Instant::now();
            for _ in 0..n {
                let mut s = pin!(R::sleep(Duration::from_secs(1)));
                let _ = s.as_mut().poll(cx);
            }
            Poll::Ready(Rep::value(start.elapsed().as_nanos() as f64 / n as f64))
        })
        .await
    }))
}

fn fire_many<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let fired = Rc::new(Cell::new(0usize));
        let done = Rc::new(LocalFlag::default());
        let start = Instant::now();
        for i in 0..n {
            let (fired, done) = (fired.clone(), done.clone());
            let d = Duration::from_millis(1) + Duration::from_nanos((i % 1000) as u64 * 1000);
            R::detach(async move {
                R::sleep(d).await;
                fired.set(fired.get() + 1);
                if fired.get() == n {
                    done.notify();
                }
            });
        }
        done.wait().await;
        Rep::value(start.elapsed().as_secs_f64() * 1e3)
    }))
}

fn insert_cancel<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        poll_fn(|cx| {
            let mut sleeps: Vec<R::Sleep> = Vec::with_capacity(n);
            let start = Instant::now();
            for i in 0..n {
                let d = Duration::from_secs(10) + Duration::from_nanos(i as u64 * 997 % 1_000_000);
                sleeps.push(R::sleep(d));
                let last = sleeps.len() - 1;
                // SAFETY: the vector never reallocates (its capacity is n)
                // and its elements are never moved out: each stays where it
                // is until `drop(sleeps)` drops it in place.
                let s = unsafe { Pin::new_unchecked(&mut sleeps[last]) };
                let _ = s.poll(cx);
            }
            drop(sleeps);
            Poll::Ready(Rep::value(start.elapsed().as_secs_f64() * 1e3))
        })
        .await
    }))
}

fn sleep_accuracy<R: Rt>(d: Duration, n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            R::sleep(d).await;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Rep {
            value: median(&samples),
            samples,
        }
    }))
}
