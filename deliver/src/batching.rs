//! Where batch subscriptions' deliveries wait to be grouped: one group per subscription, in
//! the worker's memory, each holding its messages un-acked (see [`crate::batch`]). A group
//! is ready once it reaches its size, or when its first item has waited long enough (the
//! caller's timer takes it by its generation). Every message held here counts against the
//! consumer's prefetch, so all groups together hold at most `room`: past that the largest
//! goes at once, and no group grows beyond `room` either.

use std::{collections::HashMap, sync::Mutex};

use uuid::Uuid;

/// The groups being gathered, by subscription.
pub struct Buffers<T> {
    room: usize,
    state: Mutex<State<T>>,
}

struct State<T> {
    groups: HashMap<Uuid, Group<T>>,
    /// Items held in every group.
    held: usize,
    /// The generation the next group takes.
    next: u64,
}

struct Group<T> {
    generation: u64,
    items: Vec<(Uuid, T)>,
}

/// What adding an item did.
pub struct Added<T> {
    /// The item started a group of this generation: the caller arms its timer.
    pub started: Option<u64>,
    /// Groups to send now: the item's own once it reached its size, or the largest one held
    /// once every group together reached the room.
    pub ready: Vec<Vec<T>>,
}

impl<T> Buffers<T> {
    /// Buffers holding at most `room` items in all (at least one).
    pub fn new(room: usize) -> Self {
        Self {
            room: room.max(1),
            state: Mutex::new(State {
                groups: HashMap::new(),
                held: 0,
                next: 0,
            }),
        }
    }

    /// The most items held in all, which also caps one group.
    pub fn room(&self) -> usize {
        self.room
    }

    /// Adds `item` (known as `key`) to its subscription's group, which is ready at `size`
    /// items. An item whose key the group already holds (a duplicate envelope) is handed
    /// back as `Err`.
    pub fn add(&self, subscription: Uuid, key: Uuid, item: T, size: usize) -> Result<Added<T>, T> {
        let mut state = self.lock();
        let state = &mut *state;
        let mut started = None;
        let group = state.groups.entry(subscription).or_insert_with(|| {
            started = Some(state.next);
            Group {
                generation: state.next,
                items: Vec::new(),
            }
        });
        if started.is_some() {
            state.next += 1;
        }
        if group.items.iter().any(|(k, _)| *k == key) {
            return Err(item);
        }
        group.items.push((key, item));
        state.held += 1;
        let mut ready = Vec::new();
        if group.items.len() >= size.min(self.room) {
            ready.extend(state.remove(subscription));
        } else if state.held >= self.room {
            let largest = state
                .groups
                .iter()
                .max_by_key(|(_, group)| group.items.len())
                .map(|(id, _)| *id);
            ready.extend(largest.and_then(|id| state.remove(id)));
        }
        Ok(Added { started, ready })
    }

    /// The subscription's group if it is still the one of `generation` (a timer's).
    pub fn take(&self, subscription: Uuid, generation: u64) -> Option<Vec<T>> {
        let mut state = self.lock();
        if state.groups.get(&subscription)?.generation != generation {
            return None;
        }
        state.remove(subscription)
    }

    /// Items held in every group.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> State<T> {
    fn remove(&mut self, subscription: Uuid) -> Option<Vec<T>> {
        let group = self.groups.remove(&subscription)?;
        self.held -= group.items.len();
        Some(group.items.into_iter().map(|(_, item)| item).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn a_group_is_ready_at_its_size_and_the_next_starts_afresh() {
        let buffers = Buffers::new(100);
        let sub = Uuid::now_v7();
        let first = buffers.add(sub, Uuid::now_v7(), 1, 3).expect("added");
        assert_eq!(first.started, Some(0));
        assert!(first.ready.is_empty());
        let second = buffers.add(sub, Uuid::now_v7(), 2, 3).expect("added");
        assert_eq!(second.started, None);
        let third = buffers.add(sub, Uuid::now_v7(), 3, 3).expect("added");
        assert_eq!(third.ready, vec![vec![1, 2, 3]]);
        assert_eq!(buffers.held(), 0);
        let next = buffers.add(sub, Uuid::now_v7(), 4, 3).expect("added");
        assert_eq!(next.started, Some(1), "a new generation");
    }

    #[test]
    fn a_timer_takes_only_the_group_it_was_armed_for() {
        let buffers = Buffers::new(100);
        let sub = Uuid::now_v7();
        let started = buffers.add(sub, Uuid::now_v7(), "a", 2).expect("added");
        assert_eq!(started.started, Some(0));
        let full = buffers.add(sub, Uuid::now_v7(), "b", 2).expect("added");
        assert_eq!(full.ready, vec![vec!["a", "b"]]);
        buffers.add(sub, Uuid::now_v7(), "c", 2).expect("added");
        assert_eq!(buffers.take(sub, 0), None, "the first group went when full");
        assert_eq!(buffers.take(sub, 1), Some(vec!["c"]));
        assert_eq!(buffers.take(sub, 1), None);
    }

    #[test]
    fn the_room_caps_a_group_and_every_group_together() {
        let buffers = Buffers::new(4);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let keys = ids(5);
        for (i, key) in keys[..3].iter().enumerate() {
            let added = buffers.add(a, *key, i, 100).expect("added");
            assert!(added.ready.is_empty());
        }
        let added = buffers.add(b, keys[3], 9, 100).expect("added");
        assert_eq!(
            added.ready,
            vec![vec![0, 1, 2]],
            "the largest goes when room runs out"
        );
        assert_eq!(buffers.held(), 1);
        let alone = Buffers::new(2);
        alone.add(a, keys[0], 0, 100).expect("added");
        let added = alone.add(a, keys[1], 1, 100).expect("added");
        assert_eq!(
            added.ready,
            vec![vec![0, 1]],
            "no group grows past the room"
        );
    }

    #[test]
    fn a_duplicate_envelope_is_handed_back() {
        let buffers = Buffers::new(10);
        let (sub, key) = (Uuid::now_v7(), Uuid::now_v7());
        buffers.add(sub, key, 1, 5).expect("added");
        assert_eq!(buffers.add(sub, key, 2, 5).err(), Some(2));
        assert_eq!(buffers.held(), 1);
    }
}
