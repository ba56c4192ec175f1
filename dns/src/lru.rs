//! A bounded map that forgets the least recently used entry when full.
//!
//! # Implementation
//!
//! Entries live in a `Vec` of slots linked into a doubly linked list by
//! index, most recently used at `head`; a `HashMap` finds a key's slot. Each
//! operation is O(1) apart from hashing. Freed slots go on a free list and
//! are reused, so the vector never grows past the capacity. Slots are
//! `Option`s reached with `get`, so a broken link could at worst lose an
//! entry, never panic.

use std::collections::HashMap;
use std::hash::Hash;

/// "No slot" in the links.
const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    prev: usize,
    next: usize,
}

/// The map; see the module notes.
#[derive(Debug)]
pub(crate) struct LruMap<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Option<Node<K, V>>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> LruMap<K, V> {
    /// A map holding at most `capacity` entries (0: holds nothing).
    pub(crate) fn new(capacity: usize) -> LruMap<K, V> {
        LruMap {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    /// The most entries the map holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The value for `key`, now the most recently used.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = *self.index.get(key)?;
        self.unlink(at);
        self.push_front(at);
        self.slots.get_mut(at)?.as_mut().map(|node| &mut node.value)
    }

    /// Inserts or replaces `key`, evicting the least recently used entry if
    /// the map is full. Returns the value that left the map: the one
    /// replaced or evicted, or `value` itself when the capacity is 0.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if self.capacity == 0 {
            return Some(value);
        }
        if let Some(&at) = self.index.get(&key) {
            let old = match self.slots.get_mut(at) {
                Some(Some(node)) => Some(std::mem::replace(&mut node.value, value)),
                _ => None,
            };
            self.unlink(at);
            self.push_front(at);
            return old;
        }
        let mut evicted = None;
        if self.index.len() >= self.capacity {
            evicted = self.remove_at(self.tail);
        }
        let node = Node {
            key: key.clone(),
            value,
            prev: NIL,
            next: NIL,
        };
        let at = match self.free.pop() {
            Some(at) => {
                if let Some(slot) = self.slots.get_mut(at) {
                    *slot = Some(node);
                }
                at
            }
            None => {
                self.slots.push(Some(node));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, at);
        self.push_front(at);
        evicted
    }

    /// Removes the least recently used entry, returning its value.
    pub(crate) fn pop_lru(&mut self) -> Option<V> {
        if self.tail == NIL {
            return None;
        }
        self.remove_at(self.tail)
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let at = *self.index.get(key)?;
        self.remove_at(at)
    }

    /// Removes every entry for which `keep` returns false.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let doomed: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(at, slot)| slot.as_ref().filter(|n| !keep(&n.value)).map(|_| at))
            .collect();
        for at in doomed {
            self.remove_at(at);
        }
    }

    /// Removes everything.
    pub(crate) fn clear(&mut self) {
        *self = LruMap::new(self.capacity);
    }

    fn remove_at(&mut self, at: usize) -> Option<V> {
        self.unlink(at);
        let node = self.slots.get_mut(at)?.take()?;
        self.index.remove(&node.key);
        self.free.push(at);
        Some(node.value)
    }

    fn links(&self, at: usize) -> (usize, usize) {
        match self.slots.get(at) {
            Some(Some(node)) => (node.prev, node.next),
            _ => (NIL, NIL),
        }
    }

    fn set_prev(&mut self, at: usize, prev: usize) {
        if let Some(Some(node)) = self.slots.get_mut(at) {
            node.prev = prev;
        }
    }

    fn set_next(&mut self, at: usize, next: usize) {
        if let Some(Some(node)) = self.slots.get_mut(at) {
            node.next = next;
        }
    }

    fn unlink(&mut self, at: usize) {
        let (prev, next) = self.links(at);
        if prev == NIL {
            if self.head == at {
                self.head = next;
            }
        } else {
            self.set_next(prev, next);
        }
        if next == NIL {
            if self.tail == at {
                self.tail = prev;
            }
        } else {
            self.set_prev(next, prev);
        }
        self.set_prev(at, NIL);
        self.set_next(at, NIL);
    }

    fn push_front(&mut self, at: usize) {
        let old = self.head;
        self.set_next(at, old);
        self.set_prev(at, NIL);
        if old == NIL {
            self.tail = at;
        } else {
            self.set_prev(old, at);
        }
        self.head = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut m = LruMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.get_mut(&"a"), Some(&mut 1));
        m.insert("c", 3); // evicts b
        assert_eq!(m.len(), 2);
        assert!(m.get_mut(&"b").is_none());
        assert_eq!(m.get_mut(&"a"), Some(&mut 1));
        assert_eq!(m.get_mut(&"c"), Some(&mut 3));
        m.insert("a", 10); // replace, a most recent
        m.insert("d", 4); // evicts c
        assert!(m.get_mut(&"c").is_none());
        assert_eq!(m.get_mut(&"a"), Some(&mut 10));
        assert_eq!(m.slots.len(), 2, "slots are reused");
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut m = LruMap::new(0);
        m.insert(1, 1);
        assert_eq!(m.len(), 0);
        assert!(m.get_mut(&1).is_none());
    }

    #[test]
    fn remove_retain_clear() {
        let mut m = LruMap::new(4);
        for i in 0..4 {
            m.insert(i, i);
        }
        assert_eq!(m.remove(&2), Some(2));
        assert_eq!(m.remove(&2), None);
        m.retain(|v| v % 2 == 1);
        assert_eq!(m.len(), 2);
        m.insert(7, 7);
        m.insert(8, 8);
        m.insert(9, 9); // evicts 1, the oldest survivor
        assert!(m.get_mut(&1).is_none());
        assert!(m.get_mut(&3).is_some());
        m.clear();
        assert_eq!(m.len(), 0);
        m.insert(5, 5);
        assert_eq!(m.get_mut(&5), Some(&mut 5));
    }

    #[test]
    fn matches_a_simple_model() {
        // Compare against a Vec-based LRU under a pseudo-random workload.
        let mut m = LruMap::new(5);
        let mut model: Vec<(u8, u32)> = Vec::new();
        let mut seed: u32 = 12345;
        for step in 0..5000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let key = (seed % 9) as u8;
            match seed % 3 {
                0 => {
                    m.insert(key, step);
                    model.retain(|&(k, _)| k != key);
                    if model.len() == 5 {
                        model.remove(0);
                    }
                    model.push((key, step));
                }
                1 => {
                    let got = m.get_mut(&key).map(|v| *v);
                    let want = model.iter().position(|&(k, _)| k == key).map(|i| {
                        let e = model.remove(i);
                        model.push(e);
                        e.1
                    });
                    assert_eq!(got, want);
                }
                _ => {
                    let got = m.remove(&key);
                    let want = model
                        .iter()
                        .position(|&(k, _)| k == key)
                        .map(|i| model.remove(i).1);
                    assert_eq!(got, want);
                }
            }
            assert_eq!(m.len(), model.len());
        }
    }
}
