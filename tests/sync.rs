//! tern::sync: channels, Notify, Semaphore and Mutex — closing, capacity,
//! cancellation (a dropped future gives up its place and loses nothing)
//! and use from std threads.

#[path = "common/drop_count.rs"]
mod drop_count;

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tern::sync::{mpsc, oneshot, watch, Mutex, Notify, Semaphore, TryAcquireError};

use drop_count::DropCount;

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

// ===== oneshot =====

#[tern::test]
async fn oneshot_delivers_and_reports_closing() {
    let (tx, rx) = oneshot::channel();
    tx.send(5).unwrap();
    assert_eq!(rx.await, Ok(5));

    let (tx, rx) = oneshot::channel::<u32>();
    drop(tx);
    assert!(rx.await.is_err(), "a dropped sender ends the receiver");

    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(7), Err(7), "the value comes back");
}

#[tern::test]
async fn oneshot_from_a_std_thread() {
    let (tx, rx) = oneshot::channel();
    let t = std::thread::spawn(move || tx.send(String::from("hi")).unwrap());
    assert_eq!(rx.await.unwrap(), "hi");
    t.join().unwrap();
}

#[tern::test]
async fn oneshot_value_dropped_with_receiver() {
    let drops = Rc::new(Cell::new(0));
    let (tx, rx) = oneshot::channel();
    assert!(tx.send(DropCount(drops.clone())).is_ok());
    drop(rx);
    assert_eq!(drops.get(), 1);
}

// ===== mpsc =====

#[tern::test]
async fn mpsc_capacity_and_order() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    tx.send(2).await.unwrap();
    assert!(matches!(tx.try_send(3), Err(mpsc::TrySendError::Full(3))));
    let mut send3 = pin!(tx.send(3));
    assert!(
        poll_once(send3.as_mut()).is_pending(),
        "no room: send waits"
    );
    assert_eq!(rx.recv().await, Some(1));
    assert!(matches!(poll_once(send3.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.recv().await, Some(3));
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
}

#[tern::test]
async fn mpsc_ends_when_every_sender_is_gone() {
    let (tx, mut rx) = mpsc::channel(4);
    let tx2 = tx.clone();
    let h = tern::spawn(async move {
        tx2.send("a").await.unwrap();
    });
    tx.send("b").await.unwrap();
    drop(tx);
    h.await.unwrap();
    let mut got = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    got.sort();
    assert_eq!(got, ["a", "b"]);
    assert_eq!(rx.recv().await, None);
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[tern::test]
async fn mpsc_dropped_receiver_wakes_blocked_sender_with_error() {
    let (tx, rx) = mpsc::channel(1);
    tx.send(1u32).await.unwrap();
    let h = tern::spawn(async move { tx.send(2).await });
    tern::yield_now().await; // the sender is now waiting for room
    assert!(!h.is_finished());
    drop(rx);
    let err = h.await.unwrap().unwrap_err();
    assert_eq!(err.0, 2, "the unsent value comes back");
}

#[tern::test]
async fn mpsc_cancelled_send_passes_its_reserved_slot_on() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.send('x').await.unwrap();
    let mut a = Box::pin(tx.send('a'));
    let mut b = pin!(tx.send('b'));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    // Frees the slot: it is reserved for `a`, the first in line...
    assert_eq!(rx.recv().await, Some('x'));
    assert!(matches!(
        tx.try_send('c'),
        Err(mpsc::TrySendError::Full('c'))
    ));
    // ...which is dropped without using it: `b` must get it.
    drop(a);
    assert!(matches!(poll_once(b.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.recv().await, Some('b'));
    // The channel still has its full capacity.
    tx.try_send('d').unwrap();
}

#[tern::test]
async fn mpsc_cancelled_waiting_send_leaves_the_line() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.send(0).await.unwrap();
    let mut a = Box::pin(tx.send(1));
    assert!(poll_once(a.as_mut()).is_pending());
    drop(a); // never granted anything
    assert_eq!(rx.recv().await, Some(0));
    tx.try_send(2).expect("nobody is in line any more");
    assert_eq!(rx.recv().await, Some(2));
}

#[tern::test]
async fn mpsc_receiver_drop_drops_buffered_messages() {
    let drops = Rc::new(Cell::new(0));
    let (tx, rx) = mpsc::channel(4);
    tx.try_send(DropCount(drops.clone())).unwrap();
    tx.try_send(DropCount(drops.clone())).unwrap();
    drop(rx);
    assert_eq!(drops.get(), 2);
    assert!(tx.is_closed());
    assert!(matches!(
        tx.try_send(DropCount(drops.clone())),
        Err(mpsc::TrySendError::Closed(_))
    ));
}

#[tern::test]
async fn mpsc_message_holding_its_own_sender_is_dropped_safely() {
    struct Msg(#[allow(dead_code)] mpsc::UnboundedSender<Msg>);
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    tx.send(Msg(tx.clone())).unwrap();
    drop(tx);
    drop(rx); // drops the buffered sender: must not deadlock
}

#[tern::test]
async fn mpsc_close_lets_the_buffer_drain() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(1).unwrap();
    rx.close();
    assert!(tx.send(2).is_err());
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(rx.recv().await, None);
}

/// The unbounded receiver takes what is queued in one batch: messages
/// sent meanwhile come after the whole batch, `len` counts both, closing
/// and dropping see both.
#[tern::test]
async fn mpsc_unbounded_batches_keep_order_len_and_drops() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.recv().await, Some(0), "takes the batch 0, 1, 2");
    tx.send(3).unwrap();
    tx.send(4).unwrap();
    assert_eq!(rx.len(), 4, "the rest of the batch and the two new ones");
    assert_eq!(rx.try_recv(), Ok(1));
    rx.close();
    assert!(tx.send(5).is_err());
    let mut rest = Vec::new();
    while let Some(v) = rx.recv().await {
        rest.push(v);
    }
    assert_eq!(rest, [2, 3, 4], "batch first, then what came after");
    assert!(rx.is_empty());
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));

    // Messages in the receiver's batch and in the shared queue are all
    // dropped with the receiver, one of them holding a sender of its own
    // channel (dropped with no lock held).
    /// Fields only held, to be dropped.
    #[allow(dead_code)]
    struct Msg(DropCount, Option<mpsc::UnboundedSender<Msg>>);
    let drops = Rc::new(Cell::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    for _ in 0..3 {
        tx.send(Msg(DropCount(drops.clone()), None)).unwrap();
    }
    tx.send(Msg(DropCount(drops.clone()), Some(tx.clone())))
        .unwrap();
    drop(rx.recv().await);
    tx.send(Msg(DropCount(drops.clone()), None)).unwrap();
    assert_eq!(drops.get(), 1);
    drop(rx);
    assert_eq!(drops.get(), 5, "batch and queue dropped");
    assert!(tx.is_closed());
}

#[tern::test]
async fn mpsc_bounded_from_a_std_thread() {
    const N: u32 = 20_000;
    let (tx, mut rx) = mpsc::channel(16);
    // The thread parks in blocking_send whenever the channel is full.
    let t = std::thread::spawn(move || {
        for i in 0..N {
            tx.blocking_send(i).unwrap();
        }
    });
    for i in 0..N {
        assert_eq!(rx.recv().await, Some(i));
    }
    assert_eq!(rx.recv().await, None);
    t.join().unwrap();
}

#[tern::test]
async fn blocking_recv_and_lock_on_a_std_thread() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let (otx, orx) = oneshot::channel::<u32>();
    let m = Arc::new(Mutex::new(0u32));
    let m2 = m.clone();
    let guard = m.lock().await;
    let t = std::thread::spawn(move || {
        let mut sum = 0;
        while let Some(v) = rx.blocking_recv() {
            sum += v;
        }
        *m2.blocking_lock() += sum;
        orx.blocking_recv().unwrap() + sum
    });
    for v in 1..=10 {
        tx.send(v).await.unwrap();
    }
    drop(tx);
    otx.send(1000).unwrap();
    drop(guard);
    let total = tern::spawn_blocking(move || t.join().unwrap())
        .await
        .unwrap();
    assert_eq!(total, 1055);
    assert_eq!(*m.lock().await, 55);
}

#[test]
#[should_panic(expected = "inside a tern runtime")]
fn blocking_send_inside_a_runtime_panics() {
    let (tx, _rx) = mpsc::channel::<u8>(1);
    tern::block_on(async move {
        let _ = tx.blocking_send(1);
    });
}

#[tern::test]
async fn mpsc_sends_cancelled_across_threads_lose_nothing() {
    // Two runtimes on std threads send with a deadline that often cancels
    // the send while it waits for room (or after a slot was reserved for
    // it); this task receives slowly. Every send that reported Ok arrives
    // exactly once, in order.
    const CAP: usize = 4;
    let (tx, mut rx) = mpsc::channel::<(u32, u32)>(CAP);
    let threads: Vec<_> = (0..2u32)
        .map(|k| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                tern::block_on(async move {
                    let mut sent = Vec::new();
                    for i in 0..300u32 {
                        let d = std::time::Duration::from_micros(u64::from(i % 5) * 20);
                        if let Ok(res) = tern::time::timeout(d, tx.send((k, i))).await {
                            res.unwrap();
                            sent.push(i);
                        }
                    }
                    sent
                })
            })
        })
        .collect();
    drop(tx);
    let mut got: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut n = 0u32;
    while let Some((k, i)) = rx.recv().await {
        got[k as usize].push(i);
        n += 1;
        if n % 3 == 0 {
            tern::yield_now().await;
        }
    }
    for (k, t) in threads.into_iter().enumerate() {
        let sent = t.join().unwrap();
        assert_eq!(
            got[k], sent,
            "thread {k}: exactly the acknowledged sends, in order"
        );
    }
    assert!(rx.is_empty());
}

#[tern::test]
async fn mpsc_capacity_survives_cancelled_sends() {
    const CAP: usize = 3;
    let (tx, mut rx) = mpsc::channel::<u32>(CAP);
    for round in 0..50u32 {
        // Fill, queue two waiters, free slots, cancel some waiters.
        for i in 0..CAP as u32 {
            tx.try_send(i).unwrap();
        }
        let mut a = Box::pin(tx.send(100));
        let mut b = Box::pin(tx.send(200));
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        rx.recv().await.unwrap();
        if round % 2 == 0 {
            rx.recv().await.unwrap();
        }
        drop(a);
        drop(b);
        while rx.try_recv().is_ok() {}
        for i in 0..CAP as u32 {
            tx.try_send(i)
                .unwrap_or_else(|e| panic!("round {round}: slot {i} lost: {e}"));
        }
        while rx.try_recv().is_ok() {}
    }
}

#[tern::test]
async fn mpsc_unbounded_from_std_threads() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let threads: Vec<_> = (0..4u64)
        .map(|k| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..5_000u64 {
                    tx.send(k * 1_000_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0u64; 4];
    let mut n = 0;
    while let Some(v) = rx.recv().await {
        let (k, i) = ((v / 1_000_000) as usize, v % 1_000_000);
        assert_eq!(i, next[k], "per-sender order is kept");
        next[k] += 1;
        n += 1;
    }
    assert_eq!(n, 20_000);
    for t in threads {
        t.join().unwrap();
    }
}

#[tern::test]
async fn mpsc_task_sends_to_a_blocking_job() {
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    let job = tern::spawn_blocking(move || {
        // Busy-wait receive on the pool thread through try_recv.
        let mut sum = 0;
        loop {
            match rx.try_recv() {
                Ok(v) => sum += v,
                Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                Err(mpsc::TryRecvError::Disconnected) => return sum,
                Err(e) => panic!("{e}"),
            }
        }
    });
    for i in 1..=100 {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    assert_eq!(job.await.unwrap(), 5050);
}

#[tern::test]
async fn mpsc_sender_waiting_in_another_runtime_is_woken() {
    // Capacity 1: the thread's second send waits for room, and is woken
    // across runtimes each time this task takes a message.
    let (tx, mut rx) = mpsc::channel(1);
    let t = std::thread::spawn(move || {
        tern::block_on(async move {
            for i in 0..200u32 {
                tx.send(i).await.unwrap();
            }
        })
    });
    for i in 0..200 {
        assert_eq!(rx.recv().await, Some(i));
    }
    assert_eq!(rx.recv().await, None);
    t.join().unwrap();
}

// ===== watch =====

#[tern::test]
async fn watch_sees_latest_and_closing() {
    let (tx, mut rx) = watch::channel(0);
    assert_eq!(*rx.borrow(), 0);
    assert!(!rx.has_changed().unwrap());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), 2, "the latest value, not each one");
    {
        let mut fut = pin!(rx.changed());
        assert!(
            poll_once(fut.as_mut()).is_pending(),
            "no change since last look"
        );
        drop(tx);
        assert!(poll_once(fut.as_mut()).is_ready());
    }
    assert!(rx.changed().await.is_err(), "sender gone");
}

#[tern::test]
async fn watch_send_fails_without_receivers() {
    let (tx, rx) = watch::channel(1);
    let rx2 = rx.clone();
    drop(rx);
    tx.send(2).unwrap();
    drop(rx2);
    assert_eq!(tx.send(3).unwrap_err().0, 3);
    let mut rx3 = tx.subscribe();
    assert!(!rx3.has_changed().unwrap());
    tx.send(4).unwrap();
    rx3.changed().await.unwrap();
    assert_eq!(*rx3.borrow(), 4);
}

#[tern::test]
async fn watch_every_receiver_is_told() {
    let (tx, rx) = watch::channel(0u32);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = rx.clone();
            tern::spawn(async move {
                rx.changed().await.unwrap();
                *rx.borrow()
            })
        })
        .collect();
    tern::yield_now().await;
    tx.send(9).unwrap();
    for h in handles {
        assert_eq!(h.await.unwrap(), 9);
    }
}

#[tern::test]
async fn watch_from_a_std_thread() {
    let (tx, mut rx) = watch::channel(0u32);
    let t = std::thread::spawn(move || {
        for i in 1..=1000 {
            tx.send(i).unwrap();
        }
    });
    let mut last = 0;
    while rx.changed().await.is_ok() {
        let v = *rx.borrow_and_update();
        assert!(v > last, "values only move forward");
        last = v;
    }
    assert_eq!(last, 1000);
    t.join().unwrap();
}

// ===== Notify =====

#[tern::test]
async fn notify_one_stores_one_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one();
    n.notified().await; // the stored permit
    let mut second = pin!(n.notified());
    assert!(
        poll_once(second.as_mut()).is_pending(),
        "only one permit is stored"
    );
    n.notify_one();
    assert!(poll_once(second.as_mut()).is_ready());
}

#[tern::test]
async fn notify_waiters_wakes_those_created_before() {
    let n = Notify::new();
    let mut a = pin!(n.notified());
    let mut b = pin!(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    n.notify_waiters();
    let mut c = pin!(n.notified());
    assert!(poll_once(a.as_mut()).is_ready());
    assert!(
        poll_once(b.as_mut()).is_ready(),
        "created before, even if not yet polled"
    );
    assert!(
        poll_once(c.as_mut()).is_pending(),
        "created after: not woken, no permit"
    );
}

#[tern::test]
async fn notify_cancelled_notified_passes_the_notification_on() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    let mut b = pin!(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    n.notify_one(); // chooses `a`, the oldest
    drop(a);
    assert!(
        poll_once(b.as_mut()).is_ready(),
        "`b` gets what `a` dropped"
    );

    // With nobody else waiting, the dropped notification becomes the permit.
    let mut c = Box::pin(n.notified());
    assert!(poll_once(c.as_mut()).is_pending());
    n.notify_one();
    drop(c);
    let mut d = pin!(n.notified());
    assert!(poll_once(d.as_mut()).is_ready());
}

#[tern::test]
async fn notify_from_a_std_thread() {
    let n = Arc::new(Notify::new());
    let n2 = n.clone();
    let t = std::thread::spawn(move || n2.notify_one());
    n.notified().await;
    t.join().unwrap();
}

// ===== Semaphore =====

#[tern::test]
async fn semaphore_counts_and_closes() {
    let s = Semaphore::new(2);
    let p1 = s.acquire().await.unwrap();
    let p2 = s.try_acquire().unwrap();
    assert_eq!(s.available_permits(), 0);
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(p1);
    assert_eq!(s.available_permits(), 1);
    p2.forget();
    assert_eq!(
        s.available_permits(),
        1,
        "a forgotten permit does not come back"
    );
    s.add_permits(2);
    assert_eq!(s.available_permits(), 3);

    let s = Semaphore::new(0);
    let mut waiting = pin!(s.acquire());
    assert!(poll_once(waiting.as_mut()).is_pending());
    s.close();
    assert!(matches!(poll_once(waiting.as_mut()), Poll::Ready(Err(_))));
    assert!(s.acquire().await.is_err());
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::Closed);
}

#[tern::test]
async fn semaphore_serves_waiters_in_order() {
    let s = Rc::new(Semaphore::new(0));
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let (s, order) = (s.clone(), order.clone());
            tern::spawn(async move {
                let _p = s.acquire().await.unwrap();
                order.borrow_mut().push(i);
            })
        })
        .collect();
    tern::yield_now().await;
    for _ in 0..4 {
        s.add_permits(1);
        tern::yield_now().await;
    }
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*order.borrow(), [0, 1, 2, 3]);
}

#[tern::test]
async fn semaphore_cancelled_acquire_passes_its_permit_on() {
    let s = Semaphore::new(0);
    let mut a = Box::pin(s.acquire());
    let mut b = pin!(s.acquire());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    s.add_permits(1); // granted to `a`
    drop(a);
    let p = match poll_once(b.as_mut()) {
        Poll::Ready(Ok(p)) => p,
        other => panic!("`b` should have the permit: {other:?}"),
    };
    drop(p);
    assert_eq!(s.available_permits(), 1, "no permit lost or made up");
}

#[tern::test]
async fn semaphore_cancelled_waiting_acquire_leaves_the_line() {
    let s = Semaphore::new(0);
    let mut a = Box::pin(s.acquire());
    assert!(poll_once(a.as_mut()).is_pending());
    drop(a);
    s.add_permits(1);
    assert!(s.try_acquire().is_ok(), "nobody in line ahead");
}

#[tern::test]
async fn semaphore_owned_permits_move_into_tasks() {
    let s = Arc::new(Semaphore::new(2));
    let running = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let (s, running, peak) = (s.clone(), running.clone(), peak.clone());
            tern::spawn(async move {
                let _p = s.acquire_owned().await.unwrap();
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                tern::yield_now().await;
                running.set(running.get() - 1);
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(
        peak.get(),
        2,
        "at most two at once, and two did run together"
    );
    assert_eq!(s.available_permits(), 2);
}

#[tern::test]
async fn semaphore_permit_released_from_a_std_thread() {
    let s = Arc::new(Semaphore::new(0));
    let s2 = s.clone();
    let t = std::thread::spawn(move || s2.add_permits(1));
    let _p = s.acquire().await.unwrap();
    t.join().unwrap();
}

// ===== Mutex =====

#[tern::test]
async fn mutex_excludes_across_awaits() {
    let m = Rc::new(Mutex::new(0u32));
    let inside = Rc::new(Cell::new(false));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            tern::spawn(async move {
                for _ in 0..10 {
                    let mut g = m.lock().await;
                    assert!(!inside.replace(true), "two holders at once");
                    let v = *g;
                    tern::yield_now().await;
                    *g = v + 1;
                    inside.set(false);
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*m.lock().await, 80);
}

#[tern::test]
async fn mutex_try_lock_and_cancelled_lock() {
    let m = Mutex::new(String::from("v"));
    {
        let g = m.try_lock().unwrap();
        assert!(m.try_lock().is_err());
        let mut a = Box::pin(m.lock());
        let mut b = pin!(m.lock());
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        drop(g); // hands the lock to `a`
        drop(a); // which never takes it: `b` must
        match poll_once(b.as_mut()) {
            Poll::Ready(mut g) => g.push('!'),
            Poll::Pending => panic!("the lock was lost with the cancelled waiter"),
        }
    }
    assert_eq!(m.into_inner(), "v!");
}

/// Adds 1 to `*m` 500 times, reading and writing the value on either side
/// of a yield while holding the lock: an update is lost unless the lock
/// excludes.
async fn add_500_across_yields(m: &Mutex<u64>) {
    for _ in 0..500 {
        let mut g = m.lock().await;
        let v = *g;
        tern::yield_now().await;
        *g = v + 1;
    }
}

#[tern::test]
async fn mutex_contended_by_tasks_and_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                tern::block_on(async move { add_500_across_yields(&m).await })
            })
        })
        .collect();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            tern::spawn(async move { add_500_across_yields(&m).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let joined = tern::spawn_blocking(move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    joined.await.unwrap();
    assert_eq!(*m.lock().await, 3000, "no update lost: the lock excluded");
}

#[tern::test]
async fn mutex_shared_with_a_std_thread() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let m2 = m.clone();
    let g = m.lock().await;
    let t = std::thread::spawn(move || {
        // Another runtime on another thread waits in line for the lock.
        tern::block_on(async move { m2.lock().await.push(2) })
    });
    tern::time::sleep(std::time::Duration::from_millis(5)).await;
    drop(g);
    t.join().unwrap();
    m.lock().await.push(3);
    assert_eq!(*m.lock().await, [2, 3]);
}
