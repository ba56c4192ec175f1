//! JoinSet: completion order, abort_all, AbortHandle (with slot reuse),
//! abort on drop, panics, cancel-safety of join_next.

#[path = "common/drop_count.rs"]
mod drop_count;

use std::cell::Cell;
use std::future::{pending, Future};
use std::rc::Rc;

use tern::sync::oneshot;
use tern::JoinSet;

use drop_count::DropCount;

#[tern::test]
async fn outputs_come_in_completion_order() {
    let mut set = JoinSet::new();
    let mut senders = Vec::new();
    for i in 0..3u32 {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(Some(tx));
        set.spawn(async move {
            rx.await.unwrap();
            i
        });
    }
    tern::yield_now().await;
    for i in [2, 0, 1] {
        senders[i].take().unwrap().send(()).unwrap();
        tern::yield_now().await; // task i finishes before the next is released
    }
    let mut got = Vec::new();
    while let Some(res) = set.join_next().await {
        got.push(res.unwrap());
    }
    assert_eq!(got, [2, 0, 1]);
    assert!(set.is_empty());
    assert!(set.join_next().await.is_none());
}

#[tern::test]
async fn join_next_waits_for_the_first_to_finish() {
    let mut set = JoinSet::new();
    set.spawn(async {
        pending::<()>().await;
        0
    });
    set.spawn(async {
        tern::time::sleep(std::time::Duration::from_millis(2)).await;
        1
    });
    assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
    assert_eq!(set.len(), 1);
}

#[tern::test]
async fn abort_all_cancels_every_task() {
    let drops = Rc::new(Cell::new(0));
    let mut set = JoinSet::new();
    for _ in 0..5 {
        let g = DropCount(drops.clone());
        set.spawn(async move {
            let _g = g;
            pending::<()>().await;
        });
    }
    tern::yield_now().await;
    set.abort_all();
    assert_eq!(set.len(), 5, "aborted tasks stay until collected");
    let mut cancelled = 0;
    while let Some(res) = set.join_next().await {
        assert!(res.unwrap_err().is_cancelled());
        cancelled += 1;
    }
    assert_eq!(cancelled, 5);
    assert_eq!(drops.get(), 5);
}

#[tern::test]
async fn dropping_the_set_aborts_its_tasks() {
    let drops = Rc::new(Cell::new(0));
    let ran_on = Rc::new(Cell::new(false));
    let mut set = JoinSet::new();
    for _ in 0..4 {
        let (g, r) = (DropCount(drops.clone()), ran_on.clone());
        set.spawn(async move {
            let _g = g;
            tern::yield_now().await;
            tern::yield_now().await;
            r.set(true);
        });
    }
    tern::yield_now().await;
    drop(set);
    for _ in 0..4 {
        tern::yield_now().await;
    }
    assert_eq!(drops.get(), 4, "every future dropped");
    assert!(!ran_on.get(), "no task ran past the drop");
    assert_eq!(tern::current_metrics().unwrap().tasks, 0);
}

#[tern::test]
async fn abort_handle_cancels_one_task_and_not_a_successor() {
    let mut set = JoinSet::new();
    let a = set.spawn(async {
        pending::<()>().await;
        'a'
    });
    let b = set.spawn(async { 'b' });
    a.abort();
    let mut results = Vec::new();
    while let Some(res) = set.join_next().await {
        results.push(res.map_err(|e| e.is_cancelled()));
    }
    results.sort();
    assert_eq!(results, [Ok('b'), Err(true)]);
    assert!(a.is_finished() && b.is_finished());

    // `c` reuses a's slot; a's stale handle must not touch it.
    let c = set.spawn(async {
        tern::yield_now().await;
        'c'
    });
    a.abort();
    b.abort();
    assert!(!c.is_finished());
    assert_eq!(set.join_next().await.unwrap().unwrap(), 'c');
}

#[tern::test]
async fn panics_are_reported() {
    let mut set = JoinSet::new();
    set.spawn(async { panic!("member exploded") });
    let err = set.join_next().await.unwrap().unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("member exploded"));
}

#[tern::test]
async fn cancelled_join_next_loses_no_output() {
    let mut set = JoinSet::new();
    let (tx, rx) = oneshot::channel::<()>();
    set.spawn(async move {
        rx.await.unwrap();
        7
    });
    {
        let mut fut = std::pin::pin!(set.join_next());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        tx.send(()).unwrap();
        tern::yield_now().await; // the task finishes; the future is dropped unpolled
    }
    assert_eq!(set.try_join_next().unwrap().unwrap(), 7);
}

#[tern::test]
async fn many_tasks_and_blocking_jobs() {
    let mut set = JoinSet::new();
    for i in 0..1000u64 {
        set.spawn(async move {
            tern::yield_now().await;
            i
        });
    }
    for i in 0..4u64 {
        set.spawn_blocking(move || 1000 + i);
    }
    let mut sum = 0;
    while let Some(res) = set.join_next().await {
        sum += res.unwrap();
    }
    assert_eq!(sum, (0..1004).sum::<u64>());
}
