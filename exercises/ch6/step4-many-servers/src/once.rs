//! A chat line goes into the log once, however often the page sends it.
//!
//! A page sends a line again whenever it has not heard `sent` for it: its
//! instance stopped, Redis was away, the answer was lost. Some of those
//! lines are already in the log (written just before the instance died,
//! say). So each line carries the page's own id for it, and Redis
//! remembers, next to the log, which ids it has written and under which
//! entry: a second copy gets the first one's entry id back, and nothing
//! is written.
//!
//! The check and the write are one Lua script, which Redis runs as one
//! step: no other command runs in between, and with append-only
//! persistence Redis writes its effects to the file as one transaction,
//! which it replays whole or not at all after a crash. Two separate
//! commands would each leave a hole when Redis dies between them:
//! `SET NX` first, then `XADD`, and the line is marked written but is not,
//! so the page's second copy is dropped and the line lost silently;
//! `XADD` first, then the mark, and the second copy is written again.

use std::time::Duration;

use crate::broker::Broker;
use crate::chat_log::{KEPT_ENTRIES, STREAM};
use crate::room::Room;

/// How long Redis remembers a line's id: far longer than any page keeps
/// a line it could not send (a page closed for good forgets its lines).
const REMEMBERED: Duration = Duration::from_secs(24 * 60 * 60);

/// KEYS[1] the stream, KEYS[2] the line's mark; ARGV: the cap, the author,
/// the text, the page's id for the line, the mark's lifetime, and the room.
/// Returns the line's entry id, new or from the first time.
const WRITE_ONCE: &str = r#"
local first = redis.call('GET', KEYS[2])
if first then return first end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*',
  'kind', 'chat', 'name', ARGV[2], 'text', ARGV[3], 'client_id', ARGV[4], 'room', ARGV[6])
redis.call('SET', KEYS[2], id, 'EX', ARGV[5])
return id
"#;

/// Writes `text` by `author` into the log unless the line `client_id` of
/// this author is there already; either way returns its entry id.
/// The entry's room is `room`.
pub async fn append_chat(
    broker: &Broker,
    room: &Room,
    author: &str,
    text: &str,
    client_id: &str,
) -> redis::RedisResult<String> {
    // The author is part of the key, so that no one can claim another's
    // ids; the id comes last and has no `:`, so two keys never collide.
    let mark = format!("chat-line:{author}:{client_id}");
    let mut redis = broker.shared.clone();
    redis::cmd("EVAL")
        .arg(WRITE_ONCE)
        .arg(2)
        .arg(STREAM)
        .arg(mark)
        .arg(KEPT_ENTRIES)
        .arg(author)
        .arg(text)
        .arg(client_id)
        .arg(REMEMBERED.as_secs())
        .arg(room.as_str())
        .query_async(&mut redis)
        .await
}
