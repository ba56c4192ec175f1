//! The timer queue: a binary min-heap of deadlines with back-pointers, so a
//! timer can be cancelled or moved in place.
//!
//! # Implementation
//!
//! Why a heap and not a hierarchical wheel: deadlines here have nanosecond
//! resolution (tern promises sub-millisecond sleeps), and a wheel at that
//! resolution either needs many levels or rounds deadlines to a tick, which
//! would make timers late. A heap orders exact deadlines. Its costs fit the
//! workloads a runtime sees:
//!
//! - insert is O(log n) worst case but O(1) expected for the common
//!   `now + constant` deadlines, which land at the bottom and stay there;
//! - cancel is a real removal (swap with the last entry, sift), O(log n),
//!   and O(1) for the just-inserted timer of a `timeout` that did not fire;
//!   there are no tombstones, so memory tracks the live timer count even
//!   with 1,000,000 timers created and dropped;
//! - the next deadline is `heap[0]`, read on every park.
//!
//! Each timer owns a slot in a slab (its waker and its position in the
//! heap); the heap holds `(deadline, sequence, slot)`, the sequence number
//! making equal deadlines fire in creation order. A fired timer keeps its
//! slot (marked `FIRED`) until its owner, a [`Sleep`](super::Sleep), removes
//! it, so a slot key is never reused behind its owner's back.

use std::task::Waker;
use std::time::Instant;

use slab::Slab;

const FIRED: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct HeapEntry {
    /// The deadline itself: comparing instants costs less than turning
    /// each into nanoseconds since a base.
    when: Instant,
    seq: u64,
    slot: u32,
}

impl HeapEntry {
    fn key(&self) -> (Instant, u64) {
        (self.when, self.seq)
    }
}

#[derive(Debug)]
struct Slot {
    pos: u32,
    waker: Option<Waker>,
}

/// Pending timers of one runtime.
#[derive(Debug)]
pub(crate) struct TimerHeap {
    heap: Vec<HeapEntry>,
    slots: Slab<Slot>,
    seq: u64,
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: Vec::new(),
            slots: Slab::new(),
            seq: 0,
        }
    }

    /// Number of timers waiting to fire.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Adds a timer; returns its slot key.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> usize {
        let key = self.slots.insert(Slot {
            pos: FIRED,
            waker: Some(waker),
        });
        self.push(key, deadline);
        key
    }

    fn push(&mut self, key: usize, deadline: Instant) {
        let entry = HeapEntry {
            when: deadline,
            seq: self.seq,
            slot: key as u32,
        };
        self.seq += 1;
        self.heap.push(entry);
        let pos = self.heap.len() - 1;
        self.sift_up(pos);
    }

    /// Whether the timer has fired.
    pub(crate) fn is_fired(&self, key: usize) -> bool {
        self.slots.get(key).is_none_or(|s| s.pos == FIRED)
    }

    /// Replaces the timer's waker unless it would wake the same task.
    /// Returns the old waker, to be dropped by the caller outside borrows.
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) -> Option<Waker> {
        let slot = self.slots.get_mut(key)?;
        match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        }
    }

    /// Removes the timer (fired or not); returns its waker to be dropped by
    /// the caller outside borrows.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Waker> {
        let slot = self.slots.try_remove(key)?;
        if slot.pos != FIRED {
            self.remove_at(slot.pos as usize);
        }
        self.give_back_memory();
        slot.waker
    }

    /// Returns memory after a peak (say, a million timers, then few): the
    /// heap's buffer shrinks when it is three-quarters empty, and the slab
    /// is replaced when no timer is left (its keys cannot be moved while
    /// timers hold them).
    fn give_back_memory(&mut self) {
        const KEEP: usize = 1024;
        let cap = self.heap.capacity();
        if cap > KEEP && self.heap.len() < cap / 4 {
            self.heap.shrink_to((cap / 2).max(KEEP));
        }
        if self.slots.is_empty() && self.slots.capacity() > KEEP {
            self.slots = Slab::with_capacity(KEEP);
        }
    }

    /// Bytes held by the heap and the slab (for tests).
    #[cfg(test)]
    fn footprint(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<HeapEntry>()
            + self.slots.capacity() * (std::mem::size_of::<Slot>() + 8)
    }

    /// Moves the timer to a new deadline; it is pending again.
    pub(crate) fn reschedule(&mut self, key: usize, deadline: Instant) {
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        if slot.pos != FIRED {
            self.remove_at(slot.pos as usize);
        }
        self.push(key, deadline);
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|e| e.when)
    }

    /// Fires every timer whose deadline is at or before `now`, in deadline
    /// order, appending their wakers to `out`. Returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant, out: &mut Vec<Waker>) -> usize {
        let mut n = 0;
        while let Some(top) = self.heap.first() {
            if top.when > now {
                break;
            }
            let slot = top.slot as usize;
            self.remove_at(0);
            if let Some(s) = self.slots.get_mut(slot) {
                s.pos = FIRED;
                out.extend(s.waker.take());
            }
            n += 1;
        }
        if n > 0 {
            self.give_back_memory();
        }
        n
    }

    /// Removes the entry at `pos`: the last entry fills the hole and moves
    /// up or down to its place.
    fn remove_at(&mut self, pos: usize) {
        let Some(last) = self.heap.pop() else {
            return;
        };
        if pos >= self.heap.len() {
            // It was the last entry.
            return;
        }
        if pos > 0 && last.key() < self.heap[(pos - 1) / 2].key() {
            self.place_up(pos, last);
        } else {
            self.place_down(pos, last);
        }
    }

    fn set_pos(&mut self, pos: usize) {
        let slot = self.heap[pos].slot as usize;
        if let Some(s) = self.slots.get_mut(slot) {
            s.pos = pos as u32;
        }
    }

    fn sift_up(&mut self, pos: usize) {
        let entry = self.heap[pos];
        self.place_up(pos, entry);
    }

    /// Puts `entry` into the hole at `pos` or above it: parents with a
    /// later key move down into the hole (one write each, no swaps).
    fn place_up(&mut self, mut pos: usize, entry: HeapEntry) {
        let key = entry.key();
        while pos > 0 {
            let parent = (pos - 1) / 2;
            let above = self.heap[parent];
            if key >= above.key() {
                break;
            }
            self.heap[pos] = above;
            self.set_pos(pos);
            pos = parent;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }

    /// Puts `entry` into the hole at `pos` or below it: the earlier child
    /// moves up into the hole while its key is before `entry`'s.
    fn place_down(&mut self, mut pos: usize, entry: HeapEntry) {
        let len = self.heap.len();
        let key = entry.key();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].key() < self.heap[left].key() {
                right
            } else {
                left
            };
            let below = self.heap[child];
            if below.key() >= key {
                break;
            }
            self.heap[pos] = below;
            self.set_pos(pos);
            pos = child;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_task::noop_waker;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_then_creation_order() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let keys: Vec<usize> = [5, 1, 3, 1, 4]
            .iter()
            .map(|&d| h.insert(ms(base, d), noop_waker()))
            .collect();
        assert_eq!(h.next_deadline(), Some(ms(base, 1)));
        let mut out = Vec::new();
        assert_eq!(h.fire(ms(base, 2), &mut out), 2);
        assert!(h.is_fired(keys[1]) && h.is_fired(keys[3]));
        assert!(!h.is_fired(keys[2]));
        assert_eq!(h.fire(ms(base, 4), &mut out), 2);
        assert!(h.is_fired(keys[2]) && h.is_fired(keys[4]) && !h.is_fired(keys[0]));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn never_fires_early() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let d = base + Duration::from_nanos(1_000_001);
        let k = h.insert(d, noop_waker());
        let mut out = Vec::new();
        assert_eq!(h.fire(base + Duration::from_nanos(1_000_000), &mut out), 0);
        assert!(!h.is_fired(k));
        assert_eq!(h.fire(d, &mut out), 1);
    }

    /// A waker that logs its key when woken.
    struct Logged {
        key: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl futures_task::ArcWake for Logged {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.log.lock().unwrap().push(arc_self.key);
        }
    }

    #[test]
    fn remove_and_reschedule_keep_heap_valid() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut seed = 0x2545F4914F6CDD1Du64;
        // (key, deadline in ms, creation order) of every timer.
        let mut timers = Vec::new();
        for i in 0..10_000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let key = h.slots.vacant_key();
            let waker = futures_task::waker(Arc::new(Logged {
                key,
                log: log.clone(),
            }));
            assert_eq!(h.insert(ms(base, seed % 1000), waker), key);
            timers.push((key, seed % 1000, i));
        }
        // Remove a third, move a third to 500 ms (they then sort after the
        // timers created at 500 ms, in the order they were moved).
        let mut removed = Vec::new();
        let mut expected = Vec::new();
        for (n, &(key, at, i)) in timers.iter().enumerate() {
            match n % 3 {
                0 => {
                    assert!(h.remove(key).is_some());
                    removed.push(key);
                }
                1 => {
                    h.reschedule(key, ms(base, 500));
                    expected.push((500, 10_000 + i, key));
                }
                _ => expected.push((at, i, key)),
            }
        }
        expected.sort();
        let mut out = Vec::new();
        for t in 0..=1000u64 {
            h.fire(ms(base, t), &mut out);
            out.drain(..).for_each(Waker::wake);
        }
        assert_eq!(h.len(), 0);
        let order: Vec<usize> = expected.iter().map(|&(_, _, key)| key).collect();
        assert_eq!(
            *log.lock().unwrap(),
            order,
            "timers fired out of deadline order"
        );
        for key in removed {
            assert!(
                h.slots.get(key).is_none(),
                "removed timer {key} still has a slot"
            );
        }
    }

    #[test]
    fn memory_is_given_back_after_a_peak() {
        let base = Instant::now();
        let mut h = TimerHeap::new();
        let keys: Vec<usize> = (0..100_000)
            .map(|i| h.insert(base + Duration::from_nanos(i), noop_waker()))
            .collect();
        let peak = h.footprint();
        for k in keys {
            h.remove(k);
        }
        assert!(
            h.footprint() * 10 < peak,
            "{} bytes held after the peak of {peak}",
            h.footprint()
        );
    }
}
