//! The FIFO lines a worker is handling right now: one lock per line, so a line runs one
//! delivery at a time while the shard's other lines keep moving, and the head each line is
//! attempting.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// One lock per FIFO line this worker is handling, so a line runs one delivery at a time
/// while the other lines of the shard keep moving.
#[derive(Default)]
pub struct Lines {
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// The head each line is attempting right now (from its start until it is recorded).
    attempting: Mutex<HashMap<Uuid, Uuid>>,
}

/// A head being attempted; dropping it (once the attempt is recorded) clears the mark.
pub struct Attempting<'a> {
    lines: &'a Lines,
    subscription_id: Uuid,
}

impl Drop for Attempting<'_> {
    fn drop(&mut self) {
        self.lines.attempts().remove(&self.subscription_id);
    }
}

/// A held line; dropping it lets the line's next doorbell in.
pub struct LineGuard<'a> {
    lines: &'a Lines,
    subscription_id: Uuid,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Lines {
    /// Waits for the subscription's line and holds it.
    pub async fn hold(&self, subscription_id: Uuid) -> LineGuard<'_> {
        let lock = self.map().entry(subscription_id).or_default().clone();
        LineGuard {
            lines: self,
            subscription_id,
            guard: Some(lock.lock_owned().await),
        }
    }

    /// Marks `delivery_id` as the head of the subscription's line being attempted now.
    pub fn attempt(&self, subscription_id: Uuid, delivery_id: Uuid) -> Attempting<'_> {
        self.attempts().insert(subscription_id, delivery_id);
        Attempting {
            lines: self,
            subscription_id,
        }
    }

    /// The head of the subscription's line being attempted now, if any.
    pub fn attempting(&self, subscription_id: Uuid) -> Option<Uuid> {
        self.attempts().get(&subscription_id).copied()
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Uuid>> {
        self.attempting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many lines have a lock right now (held or waited for).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no line is held or waited for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for LineGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.lines.map();
        // Every waiter cloned the lock under the map's mutex, so a count of one (the map's
        // own) means nobody holds or waits for this line: forget it.
        if map
            .get(&self.subscription_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.subscription_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_runs_one_at_a_time_and_is_forgotten_once_free() {
        let lines = Lines::default();
        let id = Uuid::now_v7();
        let held = lines.hold(id).await;
        let other = lines.hold(Uuid::now_v7()).await;
        assert_eq!(lines.len(), 2);
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), lines.hold(id)).await;
        assert!(blocked.is_err(), "a second holder of the same line waits");
        drop(other);
        drop(held);
        assert!(lines.is_empty(), "free lines are forgotten");
        let _again = lines.hold(id).await;
        assert_eq!(lines.len(), 1);
    }
}
