//! The chat's log: a Redis Stream that every instance writes to and reads.
//!
//! A Stream keeps its entries, each under an id that Redis gives it
//! (`1733050000000-0`: the time in milliseconds, and a counter), always
//! growing. So the log does two jobs. Each instance follows it with `XREAD
//! BLOCK` and hands every new entry to its own pages (`follow`); a line
//! typed on instance A reaches the pages of instance B that way. And a page
//! that comes back after a while names the last id it saw, and `XRANGE`
//! gives it exactly the entries after that one (`history`). Redis Pub/Sub
//! could do the first job but not the second: what it publishes while a
//! server is away is gone.
//!
//! When Redis goes away, the follower tells this instance's pages that
//! the chat is paused, tries again with a growing delay, and when Redis
//! answers again it says so and goes on from the last id it handed out,
//! so that nothing written in between is missed.
//!
//! The log is capped at `KEPT_ENTRIES`: a page away for longer than that
//! many lines gets the last `KEPT_ENTRIES`, not all it missed, and is told
//! so.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{
    StreamId, StreamMaxlen, StreamRangeReply, StreamReadOptions, StreamReadReply,
};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::broker::Broker;
use crate::fanout::Fanout;
use crate::protocol::ToPage;

/// The Redis key of the stream.
pub const STREAM: &str = "chat";

/// How many entries the stream keeps; `XADD` drops the oldest beyond it.
pub const KEPT_ENTRIES: usize = 1000;

/// How many entries a page that opens for the first time is shown.
const RECENT_ENTRIES: usize = 50;

/// The most entries one `XREAD` brings, handed out together.
pub const READ_BATCH: usize = 32;

/// How long one `XREAD` waits for news before it asks again.
const BLOCK: Duration = Duration::from_secs(10);

/// The first wait before the follower asks a Redis that went away again;
/// each failed try doubles it, up to `LONGEST_RETRY_DELAY`, so that a
/// Redis that is starting is not flooded by every instance at once.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What the pages are told while Redis is away.
const PAUSED: &str = "Redis, where the chat lives, is away: \
    your lines wait on your page and go out when it is back";

/// A stream entry's id, as two numbers, so that ids can be compared.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct EntryId(u64, u64);

impl EntryId {
    /// Reads `1733050000000-0`; `None` for anything else.
    pub fn parse(text: &str) -> Option<EntryId> {
        let (millis, counter) = text.split_once('-')?;
        Some(EntryId(millis.parse().ok()?, counter.parse().ok()?))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.0, self.1)
    }
}

/// One entry of the log, ready to send: its id, and its JSON, written
/// once however many pages receive it.
pub struct Delivery {
    pub id: EntryId,
    /// Shared by every page's send, not copied for each.
    pub json: Utf8Bytes,
}

/// What can be written to the log.
pub enum Event<'a> {
    Chat { author: &'a str, text: &'a str },
    Joined { name: &'a str },
    Left { name: &'a str },
}

/// Appends an entry; Redis gives it its id.
pub async fn append(broker: &Broker, event: Event<'_>) -> redis::RedisResult<String> {
    let fields = match event {
        Event::Chat { author, text } => vec![("kind", "chat"), ("name", author), ("text", text)],
        Event::Joined { name } => vec![("kind", "joined"), ("name", name)],
        Event::Left { name } => vec![("kind", "left"), ("name", name)],
    };
    let mut redis = broker.shared.clone();
    let id: Option<String> = redis
        .xadd_maxlen(STREAM, StreamMaxlen::Equals(KEPT_ENTRIES), "*", &fields)
        .await?;
    Ok(id.unwrap_or_default())
}

/// What a page is shown when it connects.
pub struct Shown {
    pub entries: Vec<ToPage>,
    /// The id of the last entry the page has then seen.
    pub last: Option<EntryId>,
    /// The page came back with an id older than every entry kept: the cap
    /// has dropped it, and lines after it may have gone with it.
    pub older_gone: bool,
}

/// What a page is shown when it connects: every entry after `after` (a
/// page that comes back), or the last `RECENT_ENTRIES` (a new page).
pub async fn history(broker: &Broker, after: Option<EntryId>) -> redis::RedisResult<Shown> {
    let mut redis = broker.shared.clone();
    let (entries, older_gone) = match after {
        // `(` makes the start exclusive: the entry the page has is not sent again.
        Some(after) => {
            let reply: StreamRangeReply = redis.xrange(STREAM, format!("({after}"), "+").await?;
            let oldest: StreamRangeReply = redis.xrange_count(STREAM, "-", "+", 1).await?;
            let oldest = oldest
                .ids
                .first()
                .and_then(|entry| EntryId::parse(&entry.id));
            (reply.ids, oldest.is_some_and(|oldest| oldest > after))
        }
        None => {
            let reply: StreamRangeReply = redis
                .xrevrange_count(STREAM, "+", "-", RECENT_ENTRIES)
                .await?;
            (reply.ids.into_iter().rev().collect(), false)
        }
    };
    let last = entries
        .last()
        .and_then(|entry| EntryId::parse(&entry.id))
        .or(after);
    Ok(Shown {
        entries: entries.iter().filter_map(to_page).collect(),
        last,
        older_gone,
    })
}

/// The id of the newest entry now, where `follow` starts.
pub async fn newest(broker: &Broker) -> redis::RedisResult<EntryId> {
    let mut redis = broker.shared.clone();
    let reply: StreamRangeReply = redis.xrevrange_count(STREAM, "+", "-", 1).await?;
    Ok(reply
        .ids
        .first()
        .and_then(|entry| EntryId::parse(&entry.id))
        .unwrap_or(EntryId(0, 0)))
}

/// Reads every entry after `from` as it arrives, for as long as the
/// server runs, and hands each to this instance's pages. It asks with the
/// last id it has handed out each time, so an entry written between two
/// reads, or while Redis was away, is never skipped.
pub async fn follow(broker: Broker, from: EntryId, fanout: Arc<Fanout>) {
    let mut last = from;
    let mut paused = false;
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let failure = read_until_failure(&broker, &mut last, &fanout, &mut paused).await;
        if !paused {
            paused = true;
            delay = FIRST_RETRY_DELAY;
            eprintln!(
                "Redis at {} went away ({failure}): chat paused after {last}; trying again",
                broker.url
            );
            let paused = ToPage::Paused {
                reason: PAUSED.to_string(),
            };
            fanout.announce(paused.to_json());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(LONGEST_RETRY_DELAY);
    }
}

/// Connects, then hands out every entry after `last` until Redis fails;
/// returns the failure. A follower that was paused resumes at its first
/// good read.
async fn read_until_failure(
    broker: &Broker,
    last: &mut EntryId,
    fanout: &Fanout,
    paused: &mut bool,
) -> String {
    let mut redis = match broker.own_connection().await {
        Ok(redis) => redis,
        Err(error) => return format!("cannot connect: {error}"),
    };
    // The first read does not wait for news: it answers as soon as Redis
    // serves again (not while it loads its file), and that is when the
    // chat resumes.
    let mut options = StreamReadOptions::default().count(READ_BATCH);
    loop {
        let read: redis::RedisResult<Option<StreamReadReply>> = redis
            .xread_options(&[STREAM], &[last.to_string()], &options)
            .await;
        let reply = match read {
            Ok(reply) => reply,
            Err(error) => return error.to_string(),
        };
        if *paused {
            // The shared connection too, which writes the lines that
            // pages send again once they hear `resumed`.
            let mut shared = broker.shared.clone();
            if let Err(error) = redis::cmd("PING").query_async::<String>(&mut shared).await {
                return error.to_string();
            }
            *paused = false;
            println!("Redis at {} is back: chat resumed after {last}", broker.url);
            fanout.announce(ToPage::Resumed.to_json());
        }
        let mut read = Vec::new();
        for entry in reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|key| key.ids)
        {
            let Some(id) = EntryId::parse(&entry.id) else {
                continue;
            };
            // Past an entry that is not ours too, or we would read it forever.
            *last = id;
            let Some(message) = to_page(&entry) else {
                continue;
            };
            read.push(Delivery {
                id,
                json: message.to_json().into(),
            });
        }
        // What one read brought goes to the pages as one message of the
        // fan-out: a burst (a crowd joining at once) counts against a page
        // no faster than the lines that come one by one.
        if !read.is_empty() {
            fanout.deliver(read.into());
        }
        options = StreamReadOptions::default()
            .block(BLOCK.as_millis() as usize)
            .count(READ_BATCH);
    }
}

/// An entry of the stream as the page sees it; `None` for one that is not
/// ours (written by hand with `redis-cli`, say).
fn to_page(entry: &StreamId) -> Option<ToPage> {
    let id = entry.id.clone();
    let name: String = entry.get("name")?;
    let kind: String = entry.get("kind")?;
    match kind.as_str() {
        "chat" => Some(ToPage::Chat {
            id,
            author: name,
            text: entry.get("text")?,
            client_id: entry.get("client_id"),
        }),
        "joined" => Some(ToPage::Joined { id, name }),
        "left" => Some(ToPage::Left { id, name }),
        _ => None,
    }
}
