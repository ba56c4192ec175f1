//! tern::sync under review: a grant passed along a chain of cancelled
//! waiters, a panicking value dropped by a cancelled send, watch's
//! versions, and std-thread senders racing the receiver's drop in a
//! runtime that shuts down.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tern::sync::{mpsc, watch, Mutex, Notify, Semaphore};

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Counts drops across threads.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics when dropped (unless disarmed by `forget`).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("PanicOnDrop dropped");
        }
    }
}

#[tern::test]
async fn notify_grant_passes_along_a_chain_of_dropped_waiters_then_is_stored() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    n.notify_one(); // chooses a
    drop(a); // passes to b
    drop(b); // passes on: nobody waits, so it is stored
    let mut c = pin!(n.notified());
    assert!(
        poll_once(c.as_mut()).is_ready(),
        "the notification was lost"
    );
    let mut d = pin!(n.notified());
    assert!(poll_once(d.as_mut()).is_pending(), "one permit at most");
}

#[tern::test]
async fn notify_waiters_wakes_only_earlier_futures_and_stores_nothing() {
    let n = Notify::new();
    let mut polled = Box::pin(n.notified());
    assert!(poll_once(polled.as_mut()).is_pending());
    let mut unpolled = Box::pin(n.notified()); // created, never polled
    n.notify_waiters();
    let mut later = Box::pin(n.notified());
    assert!(poll_once(polled.as_mut()).is_ready());
    assert!(
        poll_once(unpolled.as_mut()).is_ready(),
        "created before the call"
    );
    assert!(poll_once(later.as_mut()).is_pending(), "no permit stored");
    // A notify_one now goes to the one waiter left.
    n.notify_one();
    assert!(poll_once(later.as_mut()).is_ready());
    assert!(poll_once(pin!(n.notified())).is_pending());
}

#[tern::test]
async fn semaphore_and_mutex_grants_pass_along_dropped_waiters() {
    let s = Semaphore::new(0);
    let mut a = Box::pin(s.acquire());
    let mut b = Box::pin(s.acquire());
    let mut c = pin!(s.acquire());
    for f in [a.as_mut(), b.as_mut()] {
        assert!(poll_once(f).is_pending());
    }
    assert!(poll_once(c.as_mut()).is_pending());
    s.add_permits(1); // a
    drop(a); // b
    drop(b); // c
    let Poll::Ready(Ok(p)) = poll_once(c.as_mut()) else {
        panic!("the permit was lost");
    };
    assert_eq!(s.available_permits(), 0);
    drop(p);
    assert_eq!(s.available_permits(), 1);

    let m = Mutex::new(0u32);
    let g = m.lock().await;
    let mut x = Box::pin(m.lock());
    let mut y = pin!(m.lock());
    assert!(poll_once(x.as_mut()).is_pending());
    assert!(poll_once(y.as_mut()).is_pending());
    drop(g); // x chosen
    drop(x); // hands the lock to y
    let Poll::Ready(mut g) = poll_once(y.as_mut()) else {
        panic!("the lock was lost");
    };
    *g += 1;
    drop(g);
    assert!(m.try_lock().is_ok());
}

#[tern::test]
async fn mpsc_granted_send_whose_value_panics_on_drop_keeps_capacity() {
    let (tx, mut rx) = mpsc::channel::<Option<PanicOnDrop>>(1);
    tx.send(None).await.unwrap();
    let mut a = Box::pin(tx.send(Some(PanicOnDrop)));
    let mut b = Box::pin(tx.send(None));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    assert!(rx.recv().await.unwrap().is_none()); // slot reserved for a
    let r = catch_unwind(AssertUnwindSafe(|| drop(a)));
    assert!(r.is_err(), "the value's drop panicked");
    assert!(
        matches!(poll_once(b.as_mut()), Poll::Ready(Ok(()))),
        "the slot passed on despite the panic"
    );
    assert!(rx.recv().await.unwrap().is_none());
    tx.try_send(None).expect("full capacity left");
}

#[tern::test]
async fn mpsc_receiver_drop_fails_a_granted_send_with_its_value() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    tx.send(1).await.unwrap();
    let mut a = pin!(tx.send(2));
    assert!(poll_once(a.as_mut()).is_pending());
    assert_eq!(rx.recv().await, Some(1)); // reserved for a
    drop(rx);
    match poll_once(a.as_mut()) {
        Poll::Ready(Err(e)) => assert_eq!(e.0, 2),
        other => panic!("expected the value back, got {:?}", other.is_ready()),
    }
}

#[tern::test]
async fn watch_versions_follow_tokio() {
    let (tx, mut rx) = watch::channel(0u32);
    assert_eq!(rx.has_changed(), Ok(false), "the initial value is seen");
    tx.send(1).unwrap();
    let mut rx2 = rx.clone();
    // A send before the first poll of `changed` is seen at once.
    assert!(poll_once(pin!(rx.changed())).is_ready());
    assert!(poll_once(pin!(rx.changed())).is_pending());
    assert_eq!(*rx2.borrow_and_update(), 1);
    assert!(poll_once(pin!(rx2.changed())).is_pending());
    let mut rx3 = tx.subscribe();
    assert_eq!(rx3.has_changed(), Ok(false));
    tx.send_modify(|v| *v = 5);
    drop(tx);
    // Closed with a change unseen: the change first, then the error.
    assert!(matches!(
        poll_once(pin!(rx3.changed())),
        Poll::Ready(Ok(()))
    ));
    assert!(matches!(
        poll_once(pin!(rx3.changed())),
        Poll::Ready(Err(_))
    ));
    assert_eq!(*rx3.borrow(), 5);
}

/// Std threads send into a bounded and an unbounded channel whose
/// receivers live in a task of a runtime on another std thread; the task
/// takes a few messages and the runtime shuts down (dropping the task and
/// its receivers) while the senders keep going. Every value is dropped
/// exactly once: by the receiver, or given back and dropped by its sender.
#[test]
fn std_senders_race_receiver_drop_and_runtime_shutdown() {
    for round in 0..200usize {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let (btx, mut brx) = mpsc::channel::<Counted>(2);
        let (utx, mut urx) = mpsc::unbounded_channel::<Counted>();
        let senders: Vec<_> = (0..2)
            .map(|k| {
                let (btx, utx, drops, made) =
                    (btx.clone(), utx.clone(), drops.clone(), made.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        made.fetch_add(2, Ordering::SeqCst);
                        let b = btx.blocking_send(Counted(drops.clone()));
                        let u = utx.send(Counted(drops.clone()));
                        if b.is_err() && u.is_err() {
                            break;
                        }
                        if k == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop((btx, utx));
        let take = round % 7;
        let rt = std::thread::spawn(move || {
            tern::block_on(async move {
                tern::spawn(async move {
                    for _ in 0..take {
                        let _ = brx.recv().await;
                        let _ = urx.recv().await;
                    }
                    // Parks here; the runtime's shutdown drops it.
                    let _ = brx.recv().await;
                    std::future::pending::<()>().await;
                    drop(urx);
                });
                for _ in 0..round % 3 {
                    tern::yield_now().await;
                }
            })
        });
        rt.join().unwrap();
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            made.load(Ordering::SeqCst),
            "round {round}: a value was lost or dropped twice"
        );
    }
}
