//! Grouping concurrent work into one database round: callers queue an item and wait for its
//! answer; a few writers take turns at the queue, each taking every item waiting (up to a
//! bound) and handling them together while the next writer gathers what arrives meanwhile.
//! Nothing waits on a timer: a lone item is a group of one, and under load the groups grow
//! by themselves.

use std::{future::Future, sync::Arc};

use tokio::sync::{Mutex, mpsc, oneshot};

/// How groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Most items in one group.
    pub max_items: usize,
    /// Groups handled at once.
    pub writers: usize,
}

/// One queued item and where its answer goes.
pub struct Pending<T, R> {
    /// The item.
    pub item: T,
    /// Its answer.
    pub answer: oneshot::Sender<R>,
}

/// Where callers queue items; cheap to clone.
pub struct Queue<T, R> {
    sender: mpsc::Sender<Pending<T, R>>,
}

impl<T, R> Clone for Queue<T, R> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

/// The queue stopped (its writers are gone); the item was not handled.
#[derive(Debug, thiserror::Error)]
#[error("the group writer has stopped")]
pub struct Stopped;

impl<T: Send + 'static, R: Send + 'static> Queue<T, R> {
    /// Starts the writers. `handle` gets each group's items in queue order and returns one
    /// answer per item, in the same order. The writers stop once every `Queue` is dropped
    /// and the queue is empty.
    pub fn start<F, Fut>(grouping: Grouping, handle: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_items = grouping.max_items.max(1);
        let writers = grouping.writers.max(1);
        let (sender, receiver) = mpsc::channel(max_items * writers * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers {
            tokio::spawn(write(receiver.clone(), max_items, handle.clone()));
        }
        Self { sender }
    }

    /// Queues `item` and waits for its group to be handled.
    pub async fn submit(&self, item: T) -> Result<R, Stopped> {
        let (answer, answered) = oneshot::channel();
        self.sender
            .send(Pending { item, answer })
            .await
            .map_err(|_| Stopped)?;
        answered.await.map_err(|_| Stopped)
    }
}

async fn write<T, R, F, Fut>(
    receiver: Arc<Mutex<mpsc::Receiver<Pending<T, R>>>>,
    max_items: usize,
    handle: F,
) where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    loop {
        let group = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut group = vec![first];
            while group.len() < max_items
                && let Ok(next) = receiver.try_recv()
            {
                group.push(next);
            }
            group
        };
        let (items, answers): (Vec<T>, Vec<_>) =
            group.into_iter().map(|p| (p.item, p.answer)).unzip();
        // An answer missing from `handle`'s result drops its sender: that caller gets
        // `Stopped`.
        for (answer, outcome) in answers.into_iter().zip(handle(items).await) {
            let _ = answer.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn items_queued_together_are_handled_together_and_answered_in_order() {
        let groups = Arc::new(AtomicUsize::new(0));
        let counted = groups.clone();
        let queue = Queue::start(
            Grouping {
                max_items: 100,
                writers: 1,
            },
            move |items: Vec<u32>| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::Relaxed);
                    // Slow enough that the rest of the burst queues behind any first group.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    items.into_iter().map(|n| n * 2).collect::<Vec<_>>()
                }
            },
        );
        let answers = futures_util::future::join_all((0..50).map(|n| queue.submit(n))).await;
        let answers: Vec<u32> = answers.into_iter().map(|a| a.expect("answered")).collect();
        assert_eq!(answers, (0..50).map(|n| n * 2).collect::<Vec<_>>());
        let groups = groups.load(Ordering::Relaxed);
        assert!((1..50).contains(&groups), "{groups} groups for 50 items");
    }

    #[tokio::test]
    async fn a_group_is_never_larger_than_the_bound() {
        let queue = Queue::start(
            Grouping {
                max_items: 3,
                writers: 1,
            },
            |items: Vec<u32>| async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let size = items.len();
                items.into_iter().map(|_| size).collect::<Vec<_>>()
            },
        );
        let sizes = futures_util::future::join_all((0..20).map(|n| queue.submit(n))).await;
        assert!(sizes.into_iter().all(|s| s.expect("answered") <= 3));
    }
}
