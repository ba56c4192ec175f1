//! A million pending timers, a million tasks: order kept, nothing early,
//! everything completed, the memory given back.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::{mib, net_heap, status_kib, trim_heap, Row, Size};

/// `timers` timers, each in its own task, with deadlines in a scrambled
/// order over one second; each task notes its deadline when it runs.
pub fn timers(size: Size) -> Vec<Row> {
    const PART: &str = "timers";
    let count = size.n(1_000_000, 10_000);
    let rss_before = status_kib("VmRSS");
    let (net, (peak_pending, fired, in_order, early, left)) = net_heap(|| {
        tern::block_on(async move {
            let base = Instant::now() + Duration::from_millis(500);
            let fired: Rc<RefCell<Vec<Instant>>> = Rc::new(RefCell::new(Vec::with_capacity(count)));
            let early = Rc::new(Cell::new(0usize));
            for i in 0..count {
                // 7919 is prime and does not divide count: a permutation.
                let slot = (i * 7919) % count;
                let deadline =
                    base + Duration::from_nanos((slot as u64 * 1_000_000_000) / count as u64);
                let (fired, early) = (fired.clone(), early.clone());
                drop(tern::spawn(async move {
                    tern::time::sleep_until(deadline).await;
                    if Instant::now() < deadline {
                        early.set(early.get() + 1);
                    }
                    fired.borrow_mut().push(deadline);
                }));
            }
            // Every task has run once and registered its timer.
            tern::yield_now().await;
            let m = tern::current_metrics().unwrap_or_default();
            let peak_pending = m.timers;
            let peak_fired = fired.borrow().len();
            while tern::current_metrics().is_some_and(|m| m.tasks > 0) {
                tern::time::sleep(Duration::from_millis(10)).await;
            }
            let fired = fired.borrow();
            let in_order = fired.windows(2).all(|w| w[0] <= w[1]);
            let m = tern::current_metrics().unwrap_or_default();
            (
                (peak_pending, peak_fired),
                fired.len(),
                in_order,
                early.get(),
                (m.timers, m.tasks),
            )
        })
    });
    let ((pending, fired_early), fired_count, in_order, early, (timers_left, tasks_left)) =
        (peak_pending, fired, in_order, early, left);
    let rss_peak = status_kib("VmHWM");
    let rss_after = status_kib("VmRSS");
    trim_heap();
    let rss_trimmed = status_kib("VmRSS");
    vec![
        Row::check(
            PART,
            "timers pending at once",
            pending,
            pending + fired_early == count && pending > count * 9 / 10,
        ),
        Row::check(PART, "timers fired", fired_count, fired_count == count),
        Row::check(PART, "fired in deadline order", in_order, in_order),
        Row::check(PART, "fired early", early, early == 0),
        Row::check(
            PART,
            "timers / tasks left",
            format!("{timers_left} / {tasks_left}"),
            timers_left == 0 && tasks_left == 0,
        ),
        Row::check(PART, "heap bytes kept after the runtime", net, net == 0),
        Row::info(
            PART,
            "RSS before / peak / after / after malloc_trim",
            format!(
                "{} / {} / {} / {}",
                mib(rss_before),
                mib(rss_peak),
                mib(rss_after),
                mib(rss_trimmed)
            ),
        ),
    ]
}

/// `count` tasks spawned at once, each yielding once before it completes,
/// awaited through their handles; then as many detached ones.
pub fn tasks(size: Size) -> Vec<Row> {
    const PART: &str = "tasks";
    let count = size.n(1_000_000, 10_000);
    let rss_before = status_kib("VmRSS");
    let started = Instant::now();
    let (net, (completed, peak_tasks, results_ok, left)) = net_heap(|| {
        tern::block_on(async move {
            let done = Rc::new(Cell::new(0usize));
            let handles: Vec<_> = (0..count)
                .map(|i| {
                    let done = done.clone();
                    tern::spawn(async move {
                        tern::yield_now().await;
                        done.set(done.get() + 1);
                        i
                    })
                })
                .collect();
            let peak = tern::current_metrics().unwrap_or_default().tasks;
            let mut results_ok = true;
            for (i, h) in handles.into_iter().enumerate() {
                results_ok &= matches!(h.await, Ok(v) if v == i);
            }
            for _ in 0..count {
                let done = done.clone();
                drop(tern::spawn(async move { done.set(done.get() + 1) }));
            }
            while tern::current_metrics().is_some_and(|m| m.tasks > 0) {
                tern::yield_now().await;
            }
            let m = tern::current_metrics().unwrap_or_default();
            (done.get(), peak, results_ok, m.tasks)
        })
    });
    let secs = started.elapsed().as_secs_f64();
    let rss_peak = status_kib("VmHWM");
    let rss_after = status_kib("VmRSS");
    trim_heap();
    let rss_trimmed = status_kib("VmRSS");
    vec![
        Row::check(PART, "tasks alive at once", peak_tasks, peak_tasks == count),
        Row::check(
            PART,
            "tasks completed (awaited + detached)",
            completed,
            completed == 2 * count && results_ok,
        ),
        Row::check(PART, "tasks left", left, left == 0),
        Row::check(PART, "heap bytes kept after the runtime", net, net == 0),
        Row::info(
            PART,
            "tasks per second (spawn to completion)",
            format!("{:.2} M", 2.0 * count as f64 / secs / 1e6),
        ),
        Row::info(
            PART,
            "RSS before / peak / after / after malloc_trim",
            format!(
                "{} / {} / {} / {}",
                mib(rss_before),
                mib(rss_peak),
                mib(rss_after),
                mib(rss_trimmed)
            ),
        ),
    ]
}
