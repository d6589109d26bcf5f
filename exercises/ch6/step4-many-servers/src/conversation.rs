//! One page's conversation, from its history to its last frame.
//!
//! One task serves a page. It waits for two things at once: what the page
//! sends, which goes into the log, and what the fan-out hands out, which
//! goes to the page (see `sending`, which also sends the page its history
//! and answers). While Redis writes one of the page's lines, the chat goes
//! on to the page, and the page's next message waits its turn: a page that
//! types fast is not made to look as if it had stopped reading. A page
//! that does not read holds up only this task: the fan-out hands out to
//! the others without waiting for it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{BoxFuture, OptionFuture};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use warp::http::StatusCode;

use crate::broker::Broker;
use crate::chat_log::{self, EntryId, Event};
use crate::closing;
use crate::fanout::{Fanout, Listener, News, QUEUE_LENGTH, TooSlow};
use crate::handshake::WebSocket;
use crate::once;
use crate::protocol::{self, FromPage, Refused, ToPage};
use crate::refusal::Refusal;
use crate::room::Room;
use crate::sending::{self, Page, Stop};
use crate::shutdown::{GRACE, Notice};

/// How long a chat line may take to be written. Past it the sender hears
/// `not_sent` and sends the line again later; should Redis have written
/// it after all, `once` drops the second copy.
const WRITE_WAIT: Duration = Duration::from_secs(3);

/// What every connection of this instance shares.
pub struct Chat {
    pub broker: Broker,
    pub fanout: Arc<Fanout>,
    /// The name the pages show for this instance (`INSTANCE`, or its port).
    pub instance: Arc<str>,
}

/// Where a page that comes back stopped: `?after=ID`, the id of the last
/// line it showed, or no query for a page that is new. Anything else is
/// refused, so that a mistyped query is not taken for "send everything".
pub fn resume_point(query: &str) -> Result<Option<EntryId>, Refusal> {
    match query.strip_prefix("after=") {
        None if query.is_empty() => Ok(None),
        Some(id) if EntryId::parse(id).is_some() => Ok(EntryId::parse(id)),
        _ => {
            let body = "The query is ?room=NAME and ?after=ID, the id of the last line shown";
            let reason = format!("a query we do not know: ?{query}");
            Err(Refusal::new(
                "GET /chat".into(),
                StatusCode::BAD_REQUEST,
                body,
                &reason,
            ))
        }
    }
}

/// One page, from its history to its last frame: this task sends the
/// page everything and reads what it sends. Returns why it ended, for
/// the log.
pub async fn talk(
    websocket: Box<WebSocket>,
    name: &str,
    room: &Room,
    after: Option<EntryId>,
    chat: &Chat,
    shutdown: Notice,
) -> String {
    // Boxed, like everything below that runs once or now and then: a task
    // keeps room for the largest state its future can reach, and a page
    // that waits should take only what waiting needs.
    let mut page = match Box::pin(open(websocket, name, room, after, chat, shutdown)).await {
        Ok(page) => page,
        Err(why) => return why,
    };
    // The page's line that Redis is writing, if one is: while it is, the
    // chat goes on to the page, and the page's next message waits.
    let mut writing: Option<BoxFuture<'_, Option<String>>> = None;
    let stop = loop {
        tokio::select! {
            biased;
            () = page.shutdown.requested() => break sending::going_away(),
            Some(answer) = OptionFuture::from(writing.as_mut()), if writing.is_some() => {
                writing = None;
                if let Some(answer) = answer {
                    if let Err(stop) = page.send(answer).await {
                        break stop;
                    }
                }
            }
            frame = page.websocket.next(), if writing.is_none() => match frame {
                Some(Ok(Message::Text(text))) => writing = Some(Box::pin(receive(chat, name, room, text))),
                Some(Ok(Message::Binary(_))) => {
                    let reason = "this chat speaks JSON text; binary frames are not accepted";
                    break Stop::Close(CloseFrame { code: CloseCode::Unsupported, reason: reason.into() });
                }
                // tungstenite answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => {
                    let _ = Box::pin(chat_log::append(&chat.broker, room, Event::Left { name })).await;
                    return "closed".to_string();
                }
                Some(Err(error)) => break Stop::Failed(error),
            },
            news = page.listener.next() => {
                let sent = match news {
                    Ok(news) => page.send_news(news).await,
                    Err(TooSlow) => Err(sending::too_slow()),
                };
                if let Err(stop) = sent {
                    break stop;
                }
            }
        }
    };
    Box::pin(end(&mut page, name, room, chat, stop)).await
}

/// The page's first minute: into the fan-out, its history sent, its
/// `joined` in the log. Returns why it ended if it did.
async fn open(
    mut websocket: Box<WebSocket>,
    name: &str,
    room: &Room,
    after: Option<EntryId>,
    chat: &Chat,
    shutdown: Notice,
) -> Result<Page, String> {
    // Into the fan-out before the history is read: a line written in
    // between is then in both (the second copy is skipped), never in
    // neither.
    let mut listener = chat.fanout.listen(room);
    let read = read_history(chat, name, room, after, &mut listener).await;
    let (history, last_sent, meanwhile) = match read {
        Ok(read) => read,
        Err(error) => {
            let frame = CloseFrame {
                code: CloseCode::Error,
                reason: "Redis does not answer: try again in a moment".into(),
            };
            let _ = timeout(GRACE, websocket.close(Some(frame))).await;
            return Err(format!("no history from Redis: {error}"));
        }
    };
    let mut page = Page {
        websocket,
        listener,
        last_sent,
        shutdown,
    };
    let sent = page.send_history(history, meanwhile).await;
    let _ = chat_log::append(&chat.broker, room, Event::Joined { name }).await;
    match sent {
        Ok(()) => Ok(page),
        Err(stop) => Err(end(&mut page, name, room, chat, stop).await),
    }
}

/// The page's history, with where it stops and what the fan-out brought
/// while Redis read it. That waits here, not in the fan-out: a page that
/// has been sent nothing yet is not slow, and with a crowd connecting at
/// once it would be found so before it has even had its history. Only a
/// task the server is too busy to run falls behind even so; then the
/// page is closed as too slow, and comes back for the rest from the log.
async fn read_history(
    chat: &Chat,
    name: &str,
    room: &Room,
    after: Option<EntryId>,
    listener: &mut Listener,
) -> redis::RedisResult<(String, Option<EntryId>, Vec<Result<News, TooSlow>>)> {
    let mut meanwhile = Vec::new();
    let mut reading = std::pin::pin!(chat_log::history(&chat.broker, room, after));
    let shown = loop {
        tokio::select! {
            shown = &mut reading => break shown?,
            news = listener.next() => meanwhile.push(news),
        }
    };
    let history = ToPage::History {
        instance: chat.instance.to_string(),
        you: name.to_string(),
        entries: shown.entries,
        older_gone: shown.older_gone,
    };
    Ok((history.to_json(), shown.last, meanwhile))
}

/// Closes the page as `stop` says, writes its `left`, and returns why it
/// ended, for the log.
async fn end(page: &mut Page, name: &str, room: &Room, chat: &Chat, stop: Stop) -> String {
    let why = match stop {
        Stop::Close(frame) => {
            if frame.code == CloseCode::Policy {
                println!(
                    "Too slow: {name}'s page has {QUEUE_LENGTH} messages waiting unread; closing it"
                );
            }
            let why = page.close(frame).await;
            // The page's answer to the close frame.
            let incoming = async { while let Some(Ok(_)) = page.websocket.next().await {} };
            let _ = timeout(GRACE, incoming).await;
            why
        }
        Stop::Failed(error) => closing::after_error(&mut page.websocket, error).await,
    };
    let _ = chat_log::append(&chat.broker, room, Event::Left { name }).await;
    why
}

/// A message from the page: a chat line goes into the log, and comes
/// back to this page through it like to every other, after a `sent` that
/// names its entry; anything else gets an error that says why.
async fn receive(chat: &Chat, name: &str, room: &Room, text: Utf8Bytes) -> Option<String> {
    let (text, client_id) = match protocol::parse(&text) {
        Ok(FromPage::Chat { text, client_id }) => (text, client_id),
        Err(Refused { problem, client_id }) => {
            println!("Refused a message from {name}: {problem}");
            return Some(ToPage::error(problem, client_id).to_json());
        }
    };
    let written = match &client_id {
        Some(client_id) => {
            timeout(
                WRITE_WAIT,
                once::append_chat(&chat.broker, room, name, &text, client_id),
            )
            .await
        }
        None => {
            let line = Event::Chat {
                author: name,
                text: &text,
            };
            timeout(WRITE_WAIT, chat_log::append(&chat.broker, room, line)).await
        }
    };
    let reason = match written {
        Ok(Ok(id)) => {
            return client_id.map(|client_id| ToPage::Sent { client_id, id }.to_json());
        }
        Ok(Err(error)) => format!("Redis does not answer ({error})"),
        Err(_) => format!("Redis did not answer within {WRITE_WAIT:?}"),
    };
    println!("Not sent, a line from {name}: {reason}");
    let answer = match client_id {
        Some(client_id) => ToPage::NotSent { client_id, reason },
        None => ToPage::error(format!("not sent: {reason}; try again"), None),
    };
    Some(answer.to_json())
}
