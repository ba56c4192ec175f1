//! A probe of the cooperative budget: [`Probe`] counts the operations a
//! task completes before another task, spawned just before them, gets to
//! run. Included by `#[path]` from the runtime's and the resolver's tests.

use std::cell::Cell;
use std::rc::Rc;

/// A task spawned to record how many [`tick`](Probe::tick)s came before it
/// ran.
pub struct Probe {
    done: Rc<Cell<u32>>,
    seen: Rc<Cell<Option<u32>>>,
    other: tern::JoinHandle<()>,
}

impl Probe {
    /// Yields once first, so a wake-up left behind by earlier work (and
    /// tasks spawned before) is used up: the caller then starts with a
    /// fresh budget and nothing queued but the probe's task.
    pub async fn start() -> Probe {
        tern::yield_now().await;
        let done = Rc::new(Cell::new(0u32));
        let seen = Rc::new(Cell::new(None));
        let other = {
            let (done, seen) = (done.clone(), seen.clone());
            tern::spawn(async move { seen.set(Some(done.get())) })
        };
        Probe { done, seen, other }
    }

    /// One operation completed.
    pub fn tick(&self) {
        self.done.set(self.done.get() + 1);
    }

    /// How many ticks came before the probe's task ran.
    pub async fn ticks_before_it_ran(self) -> Option<u32> {
        self.other.await.unwrap();
        self.seen.get()
    }
}
