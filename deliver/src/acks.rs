//! Acks in groups. A quorum queue writes every `basic.ack` it gets to its log as a command of
//! its own, so one ack per message cost the broker a log entry per delivery beside the
//! publish's. Here the worker tells [`Acks`] what it settled, and every [`WINDOW`] one
//! `basic.ack` with `multiple` settles every message done below the oldest still open.
//!
//! A message done behind one still open (a slow target, a long retry wait) is acked on its
//! own once it has waited [`STRAGGLER`], so a slow delivery never holds the prefetch of those
//! behind it. Acks only ever come late, never early: a message is open from the moment the
//! consumer hands it over until its ack, nack or reject, and nothing covers an open message
//! or one not yet handed over. That needs the channel's messages handed over in tag order,
//! so a channel grouped here carries exactly one consumer; should a message ever come out of
//! order, the acker stops grouping and acks each message by itself. An ack lost with its
//! channel makes the broker redeliver, and the recorded attempt makes the redelivery a no-op.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use lapin::{Channel, options::BasicAckOptions};
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};

/// How long acks gather before they are sent.
pub const WINDOW: Duration = Duration::from_millis(10);

/// How long a message done behind an open one waits before it is acked on its own.
pub const STRAGGLER: Duration = Duration::from_millis(50);

/// Where a channel's consumed messages are reported, opened and settled. Cheap to clone; the
/// acker ends, after sending what it holds, once every clone is dropped.
#[derive(Clone, Debug)]
pub struct Acks {
    notes: mpsc::UnboundedSender<Note>,
}

#[derive(Debug, Clone, Copy)]
enum Note {
    /// The consumer handed the message over.
    Opened(u64),
    /// The message is done and wants an ack.
    Ack(u64),
    /// The message was nacked or rejected by itself: done, nothing to send.
    Settled(u64),
}

impl Acks {
    /// Starts the acker of `channel`, whose consumers' messages are reported here.
    pub fn start(channel: Channel) -> (Self, JoinHandle<()>) {
        let (notes, received) = mpsc::unbounded_channel();
        (Self { notes }, tokio::spawn(run(channel, received)))
    }

    /// The consumer handed over the message with `tag`; call before anything can settle it.
    pub fn opened(&self, tag: u64) {
        self.note(Note::Opened(tag));
    }

    /// The message with `tag` is done: ack it (soon, perhaps with others).
    pub fn ack(&self, tag: u64) {
        self.note(Note::Ack(tag));
    }

    /// The message with `tag` was nacked or rejected; call after that was sent.
    pub fn settled(&self, tag: u64) {
        self.note(Note::Settled(tag));
    }

    fn note(&self, note: Note) {
        if self.notes.send(note).is_err() {
            // Only after the acker has ended, i.e. the channel is gone: the broker redelivers.
            tracing::warn!(?note, "the acker has stopped");
        }
    }
}

async fn run(channel: Channel, mut notes: mpsc::UnboundedReceiver<Note>) {
    let mut book = Book::default();
    loop {
        // The next note, or the moment the oldest message waiting behind an open one is due.
        let next = match book.next_straggler() {
            Some(due) => tokio::select! {
                next = notes.recv() => Some(next),
                () = tokio::time::sleep_until(due) => None,
            },
            None => Some(notes.recv().await),
        };
        let mut ended = matches!(next, Some(None));
        if let Some(Some(note)) = next {
            book.take(note, Instant::now());
            tokio::time::sleep(WINDOW).await;
            loop {
                match notes.try_recv() {
                    Ok(note) => book.take(note, Instant::now()),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        let age = if ended { Duration::ZERO } else { STRAGGLER };
        send(&channel, book.due(Instant::now(), age)).await;
        if ended {
            return;
        }
    }
}

async fn send(channel: &Channel, acks: Vec<(u64, bool)>) {
    for (tag, multiple) in acks {
        if let Err(error) = channel.basic_ack(tag, BasicAckOptions { multiple }).await {
            // The channel is gone; the broker redelivers and the recorded attempts make the
            // redeliveries no-ops.
            tracing::warn!(error = %error, "ack failed");
            return;
        }
    }
}

/// What the acker knows: the messages open, and those done awaiting their ack (since when).
#[derive(Debug, Default)]
struct Book {
    open: BTreeSet<u64>,
    done: BTreeMap<u64, Instant>,
    /// The last tag handed over; every tag below it was handed over before it.
    last_opened: u64,
    /// A tag came out of order: no more `multiple` acks on this channel.
    unordered: bool,
}

impl Book {
    fn take(&mut self, note: Note, now: Instant) {
        match note {
            Note::Opened(tag) => {
                if tag <= self.last_opened && !self.unordered {
                    tracing::warn!(
                        tag,
                        last = self.last_opened,
                        "a message came out of order; acking one by one"
                    );
                    self.unordered = true;
                }
                self.last_opened = self.last_opened.max(tag);
                self.open.insert(tag);
            }
            Note::Ack(tag) => {
                self.open.remove(&tag);
                self.done.insert(tag, now);
            }
            Note::Settled(tag) => {
                self.open.remove(&tag);
            }
        }
    }

    /// When the oldest done message waiting behind an open one is due to be acked by itself.
    fn next_straggler(&self) -> Option<Instant> {
        self.done.values().min().map(|&since| since + STRAGGLER)
    }

    /// The acks to send now, as `(tag, multiple)`: one `multiple` for every done message
    /// below the oldest open one, then each done message behind an open one that has waited
    /// `age` (every done message by itself once the order was lost).
    fn due(&mut self, now: Instant, age: Duration) -> Vec<(u64, bool)> {
        let mut acks = Vec::new();
        if !self.unordered {
            let oldest_open = self.open.first().copied().unwrap_or(u64::MAX);
            let behind = self.done.split_off(&oldest_open);
            if let Some((&last, _)) = self.done.last_key_value() {
                acks.push((last, true));
            }
            self.done = behind;
        }
        self.done.retain(|&tag, since| {
            let waited = now.saturating_duration_since(*since) >= age;
            if waited {
                acks.push((tag, false));
            }
            !waited
        });
        acks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(notes: &[Note], at: Instant) -> Book {
        let mut book = Book::default();
        for &note in notes {
            book.take(note, at);
        }
        book
    }

    #[test]
    fn messages_done_in_order_are_acked_with_one_multiple() {
        let now = Instant::now();
        let mut book = book(
            &[
                Note::Opened(1),
                Note::Opened(2),
                Note::Opened(3),
                Note::Ack(2),
                Note::Ack(1),
                Note::Ack(3),
            ],
            now,
        );
        assert_eq!(book.due(now, STRAGGLER), vec![(3, true)]);
        assert!(book.due(now, Duration::ZERO).is_empty(), "sent once");
    }

    #[test]
    fn an_open_message_is_never_covered_and_those_behind_it_wait_their_turn() {
        let now = Instant::now();
        let mut book = book(
            &[
                Note::Opened(1),
                Note::Opened(2),
                Note::Opened(3),
                Note::Opened(4),
                Note::Ack(1),
                Note::Ack(3),
                Note::Ack(4),
            ],
            now,
        );
        assert_eq!(book.due(now, STRAGGLER), vec![(1, true)], "2 is open");
        let later = now + STRAGGLER;
        assert_eq!(
            book.next_straggler(),
            Some(later),
            "the acker wakes for them"
        );
        assert_eq!(
            book.due(later, STRAGGLER),
            vec![(3, false), (4, false)],
            "acked one by one once they have waited"
        );
        book.take(Note::Ack(2), later);
        assert_eq!(book.due(later, STRAGGLER), vec![(2, true)]);
    }

    #[test]
    fn a_message_nacked_by_itself_lets_the_ones_behind_it_go_in_one_ack() {
        let now = Instant::now();
        let mut book = book(
            &[
                Note::Opened(1),
                Note::Opened(2),
                Note::Opened(3),
                Note::Ack(3),
                Note::Ack(1),
            ],
            now,
        );
        assert_eq!(book.due(now, STRAGGLER), vec![(1, true)]);
        book.take(Note::Settled(2), now);
        assert_eq!(book.due(now, STRAGGLER), vec![(3, true)]);
    }

    #[test]
    fn a_message_out_of_order_stops_the_grouping() {
        let now = Instant::now();
        let mut book = book(
            &[
                Note::Opened(2),
                Note::Ack(2),
                Note::Opened(1),
                Note::Opened(3),
                Note::Ack(3),
            ],
            now,
        );
        assert_eq!(
            book.due(now, STRAGGLER),
            Vec::<(u64, bool)>::new(),
            "3 is not covered while 1 is open, nor 2 with it"
        );
        assert_eq!(
            book.due(now + STRAGGLER, STRAGGLER),
            vec![(2, false), (3, false)]
        );
        book.take(Note::Ack(1), now);
        assert_eq!(book.due(now, Duration::ZERO), vec![(1, false)]);
    }

    #[test]
    fn at_the_end_everything_done_goes_and_open_messages_stay_unacked() {
        let now = Instant::now();
        let mut book = book(
            &[
                Note::Opened(1),
                Note::Opened(2),
                Note::Opened(3),
                Note::Ack(2),
                Note::Ack(3),
            ],
            now,
        );
        assert_eq!(
            book.due(now, Duration::ZERO),
            vec![(2, false), (3, false)],
            "1 never finished: it goes back to the queue with the channel"
        );
    }
}
