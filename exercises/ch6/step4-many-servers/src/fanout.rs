//! Handing each new entry of the log to every page this instance serves,
//! without ever waiting for one of them.
//!
//! Each page has a queue of `QUEUE_LENGTH` messages, emptied by its own
//! writer task (see `writer`). The fan-out only puts the new entries in
//! each queue with `try_send`, which never waits: a queue that is full belongs
//! to a page that has stopped reading, and that page is told to go (its
//! writer closes it with a reason) instead of making everyone wait. With
//! `send().await` here, one page that does not read would stop the chat
//! for every page of the instance once its queue filled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::chat_log::Delivery;
use crate::room::Room;
use crate::writer::Outgoing;

/// How many messages may wait for one page. A page that reads keeps its
/// queue near empty; this many waiting means it has stopped. What one read
/// of the log brings (up to `chat_log::READ_BATCH` entries) is one message,
/// so that a burst of entries does not look like a page that stopped.
pub const QUEUE_LENGTH: usize = 256;

/// Every page of this instance, by a number of its own.
#[derive(Default)]
pub struct Fanout {
    pages: Mutex<HashMap<u64, Page>>,
    next_number: AtomicU64,
}

/// What the fan-out holds of a page: its queue, and the way to tell it
/// that it is too slow.
struct Page {
    /// Who is logged in on the page, for the log.
    name: String,
    /// The room the page is in: it gets that room's entries only.
    room: Room,
    queue: mpsc::Sender<Outgoing>,
    too_slow: oneshot::Sender<()>,
}

/// A page's place in the fan-out; dropping it takes the page out.
pub struct Registration {
    fanout: Arc<Fanout>,
    number: u64,
}

impl Fanout {
    /// Adds a page whose writer reads `queue`. The receiver it returns
    /// hears once if the page is dropped for being too slow.
    /// The page gets the entries of `room` only.
    pub fn register(
        self: &Arc<Self>,
        name: &str,
        room: &Room,
        queue: mpsc::Sender<Outgoing>,
    ) -> (Registration, oneshot::Receiver<()>) {
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        let (too_slow, told) = oneshot::channel();
        let page = Page {
            name: name.to_string(),
            room: room.clone(),
            queue,
            too_slow,
        };
        self.pages.lock().unwrap().insert(number, page);
        let registration = Registration {
            fanout: Arc::clone(self),
            number,
        };
        (registration, told)
    }

    /// Puts `entries`, all of `room`, in the queue of every page in that
    /// room, at once. A page whose queue is full is taken out and told why.
    pub fn deliver(&self, room: &Room, entries: Arc<[Delivery]>) {
        let mut pages = self.pages.lock().unwrap();
        let mut full = Vec::new();
        for (number, page) in pages.iter().filter(|(_, page)| page.room == *room) {
            if let Err(mpsc::error::TrySendError::Full(_)) =
                page.queue.try_send(Outgoing::Entries(Arc::clone(&entries)))
            {
                full.push(*number);
            }
        }
        for number in full {
            if let Some(page) = pages.remove(&number) {
                println!(
                    "Too slow: {}'s page has {QUEUE_LENGTH} messages waiting unread; closing it",
                    page.name
                );
                let _ = page.too_slow.send(());
            }
        }
    }
}

impl Fanout {
    /// Puts a message for every page, such as `paused`, in their queues,
    /// at once; a full queue's page is being closed anyway.
    pub fn announce(&self, json: String) {
        for page in self.pages.lock().unwrap().values() {
            let _ = page.queue.try_send(Outgoing::Reply(json.clone()));
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.fanout.pages.lock().unwrap().remove(&self.number);
    }
}
