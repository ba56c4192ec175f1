//! Task benchmarks: spawn+join, yield, chained spawns, local ping-pong,
//! and heap bytes per idle task.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use crate::harness::{metric, metric_with_target, run_interleaved, Rep, Summary};
use crate::report::{Better, Metric, Target};
use crate::rt::Rt;
use crate::signal::LocalFlag;
use crate::{alloc, per_runtime, per_runtime_and_bare, Ctx};

const GROUP: &str = "tasks";

/// Runs the group.
pub fn run(ctx: &Ctx) -> Vec<Metric> {
    let mut out = Vec::new();
    let reps = ctx.reps;

    let n = ctx.n(100_000, 1_000);
    let o = run_interleaved(reps, &mut per_runtime_and_bare!(spawn_join(n)));
    out.push(metric_with_target(
        GROUP,
        format!("spawn+join {n} tasks"),
        "ns/task",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        task_target(),
    ));

    let n = ctx.n(1_000_000, 10_000);
    let o = run_interleaved(reps, &mut per_runtime_and_bare!(yields(n)));
    out.push(metric_with_target(
        GROUP,
        format!("yield_now x{n} in one task"),
        "ns/yield",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        task_target(),
    ));

    let n = ctx.n(100_000, 1_000);
    let o = run_interleaved(reps, &mut per_runtime_and_bare!(chain(n)));
    out.push(metric_with_target(
        GROUP,
        format!("chained spawn, depth {n}"),
        "ns/task",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        task_target(),
    ));

    let n = ctx.n(200_000, 2_000);
    let o = run_interleaved(reps, &mut per_runtime!(ping_pong(n)));
    out.push(metric(
        GROUP,
        format!("ping-pong wakes between 2 tasks, {n} round trips"),
        "ns/round trip",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
    ));

    let n = ctx.n(10_000, 1_000);
    let o = run_interleaved(reps, &mut per_runtime!(idle_heap(n)));
    out.push(metric_with_target(
        GROUP,
        format!("heap per idle task ({n} pending tasks, fresh runtime)"),
        "bytes/task",
        Better::Lower,
        Summary::MedianOfReps,
        &o,
        Target::AtMost(64.0),
    ));
    out
}

/// A task operation: at most 0.67 × the best of tokio and smol, and
/// within 1.1 × the bare `async_task` loop.
fn task_target() -> Target {
    Target::Both(
        Box::new(Target::RatioToBest(0.67)),
        Box::new(Target::RatioTo("bare", 1.1)),
    )
}

fn per(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

fn spawn_join<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            handles.push(R::spawn(async move { i }));
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        black_box(sum);
        Rep::value(per(start, n))
    }))
}

fn yields<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        R::spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                R::yield_now().await;
            }
            Rep::value(per(start, n))
        })
        .await
    }))
}

fn chain_step<R: Rt>(left: usize, done: Rc<LocalFlag>) {
    R::detach(async move {
        if left == 0 {
            done.notify();
        } else {
            chain_step::<R>(left - 1, done);
        }
    });
}

fn chain<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let done = Rc::new(LocalFlag::default());
        let start = Instant::now();
        chain_step::<R>(n - 1, done.clone());
        done.wait().await;
        Rep::value(per(start, n))
    }))
}

fn ping_pong<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let ping = Rc::new(LocalFlag::default());
        let pong = Rc::new(LocalFlag::default());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let echo = R::spawn(async move {
            for _ in 0..n {
                ping2.wait().await;
                pong2.notify();
            }
        });
        let start = Instant::now();
        for _ in 0..n {
            ping.notify();
            pong.wait().await;
        }
        let r = per(start, n);
        echo.await;
        Rep::value(r)
    }))
}

fn idle_heap<R: Rt>(n: usize) -> Result<Rep, String> {
    Ok(R::block_on(async move {
        let started = Rc::new(Cell::new(0usize));
        alloc::set_counting(true);
        let before = alloc::net_bytes();
        for _ in 0..n {
            let started = started.clone();
            R::detach(async move {
                started.set(started.get() + 1);
                std::future::pending::<()>().await;
            });
        }
        // Let every task reach its pending await (bounded).
        for _ in 0..10_000 {
            if started.get() == n {
                break;
            }
            R::yield_now().await;
        }
        let after = alloc::net_bytes();
        alloc::set_counting(false);
        assert_eq!(started.get(), n, "idle tasks did not all start");
        Rep::value((after - before) as f64 / n as f64)
    }))
}

/// `__child tasks OP COLUMN N`: one run of a task row (`spawn-join`,
/// `yield` or `chain`) on one column, for a profiler; prints ns per
/// operation.
pub fn child(args: &[String]) -> Result<(), String> {
    use crate::rt::{Bare, Smol, Tern, Tokio};
    let [op, col, n] = args else {
        return Err(format!("tasks child: OP COLUMN N, not {args:?}"));
    };
    let n: usize = n
        .parse()
        .map_err(|e| format!("tasks child: N {n:?}: {e}"))?;
    fn one<R: Rt>(op: &str, n: usize) -> Result<Rep, String> {
        match op {
            "spawn-join" => spawn_join::<R>(n),
            "yield" => yields::<R>(n),
            "chain" => chain::<R>(n),
            other => Err(format!("tasks child: unknown op {other}")),
        }
    }
    let rep = match col.as_str() {
        "tern" => one::<Tern>(op, n),
        "tokio" => one::<Tokio>(op, n),
        "smol" => one::<Smol>(op, n),
        "bare" => one::<Bare>(op, n),
        other => Err(format!("tasks child: unknown column {other}")),
    }?;
    println!("{op} {col}: {:.1} ns", rep.value);
    Ok(())
}
