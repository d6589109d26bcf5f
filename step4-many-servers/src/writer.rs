//! Each page's writer: the one task that sends to that page, from its
//! queue, so that a page that reads slowly holds up only its own writer.
//!
//! It sends the page's history first, then the entries the fan-out queued
//! meanwhile and after. Those may include some the history already held
//! (the page joined the fan-out before its history was read, so that
//! nothing falls between the two): the writer skips every entry whose id
//! is not after the last one sent. So a page gets each entry exactly once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::chat_log::{Delivery, EntryId};
use crate::fanout::QUEUE_LENGTH;
use crate::handshake::WebSocket;
use crate::shutdown::Notice;

/// How many bytes of messages the writer gathers into one write.
const BATCH_BYTES: usize = 4096;

/// The sending half of a page's WebSocket.
pub type Sink = SplitSink<WebSocket, Message>;

/// How long the writer waits to deliver a close frame. A page that has
/// stopped reading gets this long to read again and hear why it is closed.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What a page's queue carries.
pub enum Outgoing {
    /// Entries of the chat's log, as one read of it brought them.
    Entries(Arc<[Delivery]>),
    /// An answer to this page alone, such as an error.
    Reply(String),
    /// Close the WebSocket with this code and reason.
    Close(CloseCode, String),
}

/// What the writer needs: the page's history, where to stop skipping, and
/// what the fan-out brought while the history was read.
pub struct Start {
    pub history: String,
    pub last_sent: Option<EntryId>,
    pub meanwhile: Vec<Outgoing>,
}

/// Sends `start.history`, then the queue, until the queue ends (the page
/// is gone), a `Close` comes, the fan-out finds the page too slow, or the
/// server stops. Returns the sink and why it stopped, for the log.
pub async fn run(
    mut sink: Sink,
    start: Start,
    queue: mpsc::Receiver<Outgoing>,
    // Only `Ok` means too slow: the sender is also dropped, with an
    // error here, when the page leaves the fan-out normally.
    mut too_slow: oneshot::Receiver<()>,
    mut shutdown: Notice,
) -> (Sink, String) {
    let mut last_sent = start.last_sent;
    let mut next = vec![Message::text(start.history)];
    let mut waiting = Waiting {
        meanwhile: Some(start.meanwhile.into_iter()),
        queue,
    };
    loop {
        let stop = if !next.is_empty() {
            let messages = std::mem::take(&mut next);
            // A page that does not read makes this send wait; the fan-out
            // or the server may still end it meanwhile.
            tokio::select! {
                biased;
                Ok(()) = &mut too_slow => Some(too_slow_frame()),
                () = shutdown.requested() => Some(going_away_frame()),
                sent = send_waiting(&mut sink, messages, &mut waiting, &mut last_sent) => match sent {
                    Ok(close) => close,
                    Err(error) => return (sink, format!("sending failed: {error}")),
                },
            }
        } else {
            tokio::select! {
                biased;
                Ok(()) = &mut too_slow => Some(too_slow_frame()),
                () = shutdown.requested() => Some(going_away_frame()),
                outgoing = waiting.next() => match outgoing {
                    None => return (sink, "closed".to_string()),
                    Some(outgoing) => match to_messages(outgoing, &mut last_sent) {
                        Next::Send(messages) => {
                            next = messages;
                            None
                        }
                        Next::Close(frame) => Some(frame),
                    },
                },
            }
        };
        if let Some(frame) = stop {
            let why = format!("closed with {}: {}", u16::from(frame.code), frame.reason);
            let _ = timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
            return (sink, why);
        }
    }
}

/// What waits to be sent: first what came while the history was read,
/// then the queue.
struct Waiting {
    /// Dropped once empty, and its memory with it.
    meanwhile: Option<std::vec::IntoIter<Outgoing>>,
    queue: mpsc::Receiver<Outgoing>,
}

impl Waiting {
    fn take_meanwhile(&mut self) -> Option<Outgoing> {
        let next = self.meanwhile.as_mut()?.next();
        if next.is_none() {
            self.meanwhile = None;
        }
        next
    }

    /// The next message, waiting for one; `None` once the queue has ended.
    async fn next(&mut self) -> Option<Outgoing> {
        match self.take_meanwhile() {
            Some(outgoing) => Some(outgoing),
            None => self.queue.recv().await,
        }
    }

    /// The next message if one is there now.
    fn try_next(&mut self) -> Option<Outgoing> {
        self.take_meanwhile().or_else(|| self.queue.try_recv().ok())
    }
}

/// What the writer does with one message from the queue.
enum Next {
    /// Send these: none for entries the page already has (from its history).
    Send(Vec<Message>),
    Close(CloseFrame),
}

fn to_messages(outgoing: Outgoing, last_sent: &mut Option<EntryId>) -> Next {
    match outgoing {
        Outgoing::Entries(entries) => {
            let mut messages = Vec::new();
            for entry in entries.iter() {
                if Some(entry.id) > *last_sent {
                    *last_sent = Some(entry.id);
                    messages.push(Message::text(entry.json.as_str()));
                }
            }
            Next::Send(messages)
        }
        Outgoing::Reply(text) => Next::Send(vec![Message::text(text)]),
        Outgoing::Close(code, reason) => Next::Close(CloseFrame {
            code,
            reason: reason.into(),
        }),
    }
}

/// Sends `first` and whatever else is already waiting, up to about
/// `BATCH_BYTES`, in one write: when the chat is busy, one write to the
/// system for many messages instead of one each, so the writer keeps up.
/// Returns a close frame that came among them, to be sent next.
async fn send_waiting(
    sink: &mut Sink,
    first: Vec<Message>,
    waiting: &mut Waiting,
    last_sent: &mut Option<EntryId>,
) -> Result<Option<CloseFrame>, tokio_tungstenite::tungstenite::Error> {
    let mut bytes = 0;
    for message in first {
        bytes += message.len();
        sink.feed(message).await?;
    }
    let mut close = None;
    while bytes < BATCH_BYTES {
        let Some(outgoing) = waiting.try_next() else {
            break;
        };
        match to_messages(outgoing, last_sent) {
            Next::Send(messages) => {
                for message in messages {
                    bytes += message.len();
                    sink.feed(message).await?;
                }
            }
            Next::Close(frame) => {
                close = Some(frame);
                break;
            }
        }
    }
    sink.flush().await?;
    Ok(close)
}

/// Code 1008 (policy violation): the page broke the rule that a page reads
/// what it is sent.
fn too_slow_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Policy,
        reason: format!("too slow: {QUEUE_LENGTH} messages were waiting unread").into(),
    }
}

/// Code 1001 (going away): the server stops; the page may reconnect, and
/// nginx sends it to another instance.
fn going_away_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Away,
        reason: "server shutting down".into(),
    }
}
