//! Handing each new entry of the log to every page this instance serves,
//! without ever waiting for one of them.
//!
//! Each room has one `broadcast` channel: what the follower puts in is
//! kept once, for every page, until the last page has taken it. So a
//! thousand pages cost a thousand places to read from (a number each),
//! not a thousand queues. Putting a message in never waits, and it never
//! fails for a page that does not read: the channel keeps the newest
//! `QUEUE_LENGTH` messages, and a page that lets that many go unread is
//! told to go (see `sending`) instead of making everyone wait. With a
//! queue that waited for its slowest reader, one page that does not read
//! would stop the chat for every page of the instance.
//!
//! A room's channel is made when the first page of the room listens, and
//! an entry goes into its own room's channel only: a page hears its room
//! and no other, and a quiet room's pages are not found slow because a
//! busy room talks. A notice such as `paused` goes into every room's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

use crate::chat_log::Delivery;
use crate::room::Room;

/// How many messages may wait for one page. A page that reads keeps near
/// none waiting; this many means it has stopped. What one read of the log
/// brings (up to `chat_log::READ_BATCH` entries) is one message, so that a
/// burst of entries does not look like a page that stopped.
pub const QUEUE_LENGTH: usize = 256;

/// What the fan-out hands to every page.
#[derive(Clone)]
pub enum News {
    /// Entries of the chat's log, as one read of it brought them.
    Entries(Arc<[Delivery]>),
    /// A message for every page, such as `paused`, as JSON.
    Notice(Arc<str>),
}

/// Every page of this instance, as readers of its room's channel.
pub struct Fanout {
    /// The rooms this instance's pages are in, each with its channel.
    rooms: Mutex<HashMap<Room, broadcast::Sender<News>>>,
    /// Woken at each message, for the pages whose sending waits (see
    /// `Listener::fallen_behind`).
    arrived: Notify,
}

/// One page's place in the fan-out: the next message it has not read.
/// Dropping it takes the page out.
pub struct Listener {
    news: broadcast::Receiver<News>,
    fanout: Arc<Fanout>,
}

/// The page let `QUEUE_LENGTH` messages go unread.
pub struct TooSlow;

impl Default for Fanout {
    fn default() -> Fanout {
        Fanout {
            rooms: Mutex::default(),
            arrived: Notify::new(),
        }
    }
}

impl Fanout {
    /// A new page's place: it hears every message from now on.
    /// In `room` only, whose channel is made for the room's first page.
    pub fn listen(self: &Arc<Self>, room: &Room) -> Listener {
        let mut rooms = self.rooms.lock().unwrap();
        // Rooms whose last page has left go first, so that the instance
        // keeps channels only for the rooms its pages are in.
        rooms.retain(|_, channel| channel.receiver_count() > 0);
        let channel = rooms
            .entry(room.clone())
            .or_insert_with(|| broadcast::Sender::new(QUEUE_LENGTH));
        Listener {
            news: channel.subscribe(),
            fanout: Arc::clone(self),
        }
    }

    /// Hands `entries`, all of `room`, to every page of that room, at once.
    pub fn deliver(&self, room: &Room, entries: Arc<[Delivery]>) {
        // No channel: no page of this instance is in that room.
        if let Some(channel) = self.rooms.lock().unwrap().get(room) {
            let _ = channel.send(News::Entries(entries));
        }
        self.arrived.notify_waiters();
    }

    /// Hands a message such as `paused` to every page, at once.
    pub fn announce(&self, json: String) {
        self.hand_out(News::Notice(json.into()));
    }

    /// Into every room's channel.
    fn hand_out(&self, news: News) {
        for channel in self.rooms.lock().unwrap().values() {
            // An error only means that no page is open.
            let _ = channel.send(news.clone());
        }
        self.arrived.notify_waiters();
    }
}

impl Listener {
    /// The next message, waiting for one. `TooSlow` if the page let
    /// `QUEUE_LENGTH` go unread and the oldest of them are gone.
    pub async fn next(&mut self) -> Result<News, TooSlow> {
        match self.news.recv().await {
            Ok(news) => Ok(news),
            Err(broadcast::error::RecvError::Lagged(_)) => Err(TooSlow),
            // The sender lives as long as the server: this is its end, and
            // there is nothing more to wait for.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }

    /// The next message if one is there now.
    pub fn try_next(&mut self) -> Option<Result<News, TooSlow>> {
        match self.news.try_recv() {
            Ok(news) => Some(Ok(news)),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Err(TooSlow)),
            Err(_) => None,
        }
    }

    /// Resolves once `QUEUE_LENGTH` messages wait unread for this page:
    /// what `sending` watches while a page takes long to read.
    pub async fn fallen_behind(&self) {
        loop {
            // Asked for before the count is looked at, so that a message
            // handed out in between still wakes us.
            let arrived = self.fanout.arrived.notified();
            if self.news.len() >= QUEUE_LENGTH {
                return;
            }
            arrived.await;
        }
    }
}
