//! One page's conversation, from its history to its last frame.
//!
//! Two tasks serve a page. This one reads what the page sends; the page's
//! writer (see `writer`) sends it everything else: its history, the chat
//! as it happens, answers and close frames. So a page that does not read
//! holds up nobody, not even its own reading half.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use warp::http::StatusCode;

use crate::broker::Broker;
use crate::chat_log::{self, EntryId, Event};
use crate::closing;
use crate::fanout::{Fanout, QUEUE_LENGTH};
use crate::handshake::WebSocket;
use crate::once;
use crate::protocol::{self, FromPage, Refused, ToPage};
use crate::refusal::Refusal;
use crate::room::Room;
use crate::shutdown::{GRACE, Notice};
use crate::writer::{self, Outgoing};

/// How long a chat line may take to be written. Past it the sender hears
/// `not_sent` and sends the line again later; should Redis have written
/// it after all, `once` drops the second copy.
const WRITE_WAIT: Duration = Duration::from_secs(3);

/// What every connection of this instance shares.
#[derive(Clone)]
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

/// One page, from its history to its last frame. This task reads what the
/// page sends; its writer task sends it everything else. Returns why it
/// ended, for the log.
pub async fn talk(
    websocket: WebSocket,
    name: &str,
    room: &Room,
    after: Option<EntryId>,
    chat: &Chat,
    shutdown: Notice,
) -> String {
    let (sink, mut incoming) = websocket.split();
    let (queue, mut queued) = mpsc::channel(QUEUE_LENGTH);
    // Into the fan-out before the history is read: a line written in
    // between is then in both (the writer skips the second copy), never
    // in neither.
    let (registration, too_slow) = chat.fanout.register(name, room, queue.clone());
    // What the fan-out brings while Redis reads the history waits here, not
    // in the queue: a page that has been sent nothing yet is not slow, and
    // with a crowd connecting at once its queue would fill before it has
    // even had its history.
    let mut meanwhile = Vec::new();
    let mut reading = std::pin::pin!(chat_log::history(&chat.broker, room, after));
    let history = loop {
        tokio::select! {
            history = &mut reading => break history,
            Some(outgoing) = queued.recv() => meanwhile.push(outgoing),
        }
    };
    let shown = match history {
        Ok(shown) => shown,
        Err(error) => {
            let mut websocket = sink
                .reunite(incoming)
                .expect("the two halves of one socket");
            let reason = "Redis does not answer: try again in a moment".into();
            let frame = CloseFrame {
                code: CloseCode::Error,
                reason,
            };
            let _ = timeout(GRACE, websocket.close(Some(frame))).await;
            return format!("no history from Redis: {error}");
        }
    };
    // Made into JSON in one expression, so that the entries are dropped
    // here: a variable would keep them for as long as the page is open.
    let history = ToPage::History {
        instance: chat.instance.to_string(),
        you: name.to_string(),
        entries: shown.entries,
        older_gone: shown.older_gone,
    }
    .to_json();
    let start = writer::Start {
        history,
        last_sent: shown.last,
        meanwhile,
    };
    // The writer gets a notice of its own; this task keeps `shutdown` to the
    // end, so that the server waits for its `left` entry too.
    let mut writer = tokio::spawn(writer::run(sink, start, queued, too_slow, shutdown.clone()));
    let _ = chat_log::append(&chat.broker, room, Event::Joined { name }).await;

    let ending = loop {
        tokio::select! {
            // The writer first: once it has closed the page, the page's
            // answer may also be waiting, and the writer's reason is the
            // one to log.
            biased;
            // The writer closed the page (too slow, shutting down, a binary
            // frame): let the page's answer to the close frame arrive.
            ended = &mut writer => {
                let _ = timeout(GRACE, async { while let Some(Ok(_)) = incoming.next().await {} }).await;
                let _ = chat_log::append(&chat.broker, room, Event::Left { name }).await;
                return ended.map_or_else(|error| format!("writer failed: {error}"), |(_, why)| why);
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => receive(chat, name, room, &text, &queue).await,
                Some(Ok(Message::Binary(_))) => {
                    let reason = "this chat speaks JSON text; binary frames are not accepted";
                    let _ = queue.try_send(Outgoing::Close(CloseCode::Unsupported, reason.into()));
                }
                // tungstenite answers pings and the closing handshake itself.
                Some(Ok(_)) => {}
                None => break Ok(()),
                Some(Err(error)) => break Err(error),
            },
        }
    };

    // The page has gone, or broke the rules: out of the fan-out, and the
    // writer finishes what is queued.
    drop(registration);
    drop(queue);
    let _ = chat_log::append(&chat.broker, room, Event::Left { name }).await;
    let written = timeout(GRACE, writer).await;
    match (ending, written) {
        (Ok(()), _) => "closed".to_string(),
        (Err(error), Ok(Ok((sink, _)))) => {
            let mut websocket = sink
                .reunite(incoming)
                .expect("the two halves of one socket");
            closing::after_error(&mut websocket, error).await
        }
        (Err(error), _) => format!("ended with an error: {error}"),
    }
}

/// A message from the page: a chat line goes into the log, and comes
/// back to this page through it like to every other, after a `sent` that
/// names its entry; anything else gets an error that says why.
async fn receive(
    chat: &Chat,
    name: &str,
    room: &Room,
    text: &str,
    replies: &mpsc::Sender<Outgoing>,
) {
    let (text, client_id) = match protocol::parse(text) {
        Ok(FromPage::Chat { text, client_id }) => (text, client_id),
        Err(Refused { problem, client_id }) => {
            println!("Refused a message from {name}: {problem}");
            // A full queue means the writer is about to close this page anyway.
            let error = ToPage::error(problem, client_id);
            let _ = replies.try_send(Outgoing::Reply(error.to_json()));
            return;
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
            if let Some(client_id) = client_id {
                let sent = ToPage::Sent { client_id, id };
                let _ = replies.try_send(Outgoing::Reply(sent.to_json()));
            }
            return;
        }
        Ok(Err(error)) => format!("Redis does not answer ({error})"),
        Err(_) => format!("Redis did not answer within {WRITE_WAIT:?}"),
    };
    println!("Not sent, a line from {name}: {reason}");
    let answer = match client_id {
        Some(client_id) => ToPage::NotSent { client_id, reason },
        None => ToPage::error(format!("not sent: {reason}; try again"), None),
    };
    let _ = replies.try_send(Outgoing::Reply(answer.to_json()));
}
