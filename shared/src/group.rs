//! Grouping concurrent work into one database round: callers queue an item and wait for its
//! answer; a few writers take turns at the queue, each taking every item waiting (up to a
//! bound) and handling them together while the next writer gathers what arrives meanwhile.
//! A lone item is a group of one, and under load the groups grow by themselves. Even without
//! a linger, a group whose queue ran dry waits out one tick of tokio's timer (up to ~1 ms)
//! for items arriving meanwhile: that tick buys larger groups at saturation and costs
//! latency below it (docs/benchmarks-log.md, "groups that never wait on a timer").

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::{Mutex, mpsc, oneshot};

/// How groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Most items in one group.
    pub max_items: usize,
    /// Most total weight in one group (see [`Queue::start_weighed`]); a single item heavier
    /// than this is still handled, alone.
    pub max_weight: usize,
    /// Groups handled at once.
    pub writers: usize,
    /// How long a group that is not full waits for more items after its first (zero: not
    /// at all). Trades that much latency for fewer, larger groups below saturation.
    pub linger: Duration,
}

impl Grouping {
    /// Groups of at most `max_items`, `writers` at once, bounded by count alone and formed
    /// without waiting.
    pub fn counted(max_items: usize, writers: usize) -> Self {
        Self {
            max_items,
            max_weight: usize::MAX,
            writers,
            linger: Duration::ZERO,
        }
    }
}

/// The answers of a group whose one statement failed: the same error for each of its
/// `items`.
pub fn each_failed<R, E>(items: usize, error: E) -> Vec<Result<R, Arc<E>>> {
    let error = Arc::new(error);
    (0..items).map(|_| Err(error.clone())).collect()
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
    /// Starts the writers, every item weighing one. `handle` gets each group's items in
    /// queue order and returns one answer per item, in the same order. The writers stop once
    /// every `Queue` is dropped and the queue is empty.
    pub fn start<F, Fut>(grouping: Grouping, handle: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self::start_weighed(grouping, |_| 1, handle)
    }

    /// Like [`Queue::start`], with each group's total `weigh` (bytes, say) bounded by
    /// `grouping.max_weight`.
    pub fn start_weighed<F, Fut>(grouping: Grouping, weigh: fn(&T) -> usize, handle: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let writers = grouping.writers.max(1);
        let bounds = Bounds {
            max_items: grouping.max_items.max(1),
            max_weight: grouping.max_weight.max(1),
            linger: grouping.linger,
            weigh,
        };
        let (sender, receiver) = mpsc::channel(bounds.max_items * writers * 4);
        let taker = Arc::new(Mutex::new(Taker {
            receiver,
            held: None,
        }));
        for _ in 0..writers {
            tokio::spawn(write(taker.clone(), bounds, handle.clone()));
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

/// What bounds a group.
struct Bounds<T> {
    max_items: usize,
    max_weight: usize,
    linger: Duration,
    weigh: fn(&T) -> usize,
}

impl<T> Clone for Bounds<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Bounds<T> {}

/// The queue's receiving end, and an item taken from it that did not fit the last group
/// (it starts the next one).
struct Taker<T, R> {
    receiver: mpsc::Receiver<Pending<T, R>>,
    held: Option<Pending<T, R>>,
}

impl<T, R> Taker<T, R> {
    /// The next group: the first item waited for, then every item waiting that fits.
    async fn group(&mut self, bounds: Bounds<T>) -> Option<Vec<Pending<T, R>>> {
        let first = match self.held.take() {
            Some(held) => held,
            None => self.receiver.recv().await?,
        };
        let lingered = tokio::time::Instant::now() + bounds.linger;
        let mut weight = (bounds.weigh)(&first.item);
        let mut group = vec![first];
        while group.len() < bounds.max_items && weight < bounds.max_weight {
            let Some(next) = self.next_within(lingered).await else {
                break;
            };
            let more = (bounds.weigh)(&next.item);
            if weight + more > bounds.max_weight {
                self.held = Some(next);
                break;
            }
            weight += more;
            group.push(next);
        }
        Some(group)
    }

    /// An item waiting now, or one arriving before `lingered`.
    async fn next_within(&mut self, lingered: tokio::time::Instant) -> Option<Pending<T, R>> {
        if let Ok(next) = self.receiver.try_recv() {
            return Some(next);
        }
        tokio::time::timeout_at(lingered, self.receiver.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn write<T, R, F, Fut>(taker: Arc<Mutex<Taker<T, R>>>, bounds: Bounds<T>, handle: F)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    loop {
        let Some(group) = taker.lock().await.group(bounds).await else {
            return;
        };
        let (items, answers): (Vec<T>, Vec<_>) =
            group.into_iter().map(|p| (p.item, p.answer)).unzip();
        // An answer missing from `handle`'s result drops its sender: that caller gets
        // `Stopped`.
        for (answer, outcome) in answers.into_iter().zip(handle(items).await) {
            // A caller that stopped waiting (its task ended) wants no answer.
            let _ = answer.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A queue of one writer that doubles each item, taking `delay` per group, and the
    /// count of groups it handled.
    fn doubling(linger: Duration, delay: Duration) -> (Queue<u32, u32>, Arc<AtomicUsize>) {
        let groups = Arc::new(AtomicUsize::new(0));
        let counted = groups.clone();
        let queue = Queue::start(
            Grouping {
                max_items: 100,
                max_weight: usize::MAX,
                writers: 1,
                linger,
            },
            move |items: Vec<u32>| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    items.into_iter().map(|n| n * 2).collect::<Vec<_>>()
                }
            },
        );
        (queue, groups)
    }

    #[tokio::test]
    async fn items_queued_together_are_handled_together_and_answered_in_order() {
        // Slow enough that the rest of the burst queues behind any first group.
        let (queue, groups) = doubling(Duration::ZERO, Duration::from_millis(20));
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
                max_weight: usize::MAX,
                writers: 1,
                linger: Duration::ZERO,
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

    #[tokio::test]
    async fn a_group_stays_within_its_weight_and_a_heavy_item_goes_alone() {
        let queue = Queue::start_weighed(
            Grouping {
                max_items: 100,
                max_weight: 10,
                writers: 1,
                linger: Duration::ZERO,
            },
            |n: &usize| *n,
            |items: Vec<usize>| async move {
                let total: usize = items.iter().sum();
                let count = items.len();
                items
                    .into_iter()
                    .map(|_| (total, count))
                    .collect::<Vec<_>>()
            },
        );
        let weights = [4, 4, 4, 25, 1, 1];
        let answers =
            futures_util::future::join_all(weights.iter().map(|&w| queue.submit(w))).await;
        let answers: Vec<(usize, usize)> =
            answers.into_iter().map(|a| a.expect("answered")).collect();
        for (weight, (total, count)) in weights.iter().zip(&answers) {
            if *weight > 10 {
                assert_eq!((*total, *count), (*weight, 1), "a heavy item alone");
            } else {
                assert!(*total <= 10, "{answers:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_group_lingers_for_items_arriving_just_after_its_first() {
        let (queue, groups) = doubling(Duration::from_millis(300), Duration::ZERO);
        let late = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            queue.submit(2).await
        };
        let (first, second) = tokio::join!(queue.submit(1), late);
        assert_eq!(
            (first.expect("answered"), second.expect("answered")),
            (2, 4)
        );
        assert_eq!(groups.load(Ordering::Relaxed), 1, "one group for both");
    }
}
