//! Sending to one page, which may read slowly or not at all.
//!
//! One task serves each page (see `conversation`) and sends it everything:
//! its history, the chat as the fan-out hands it out, answers and close
//! frames. A send to a page that does not read waits for it, and while it
//! waits two things are watched: the server stopping, and the page falling
//! `QUEUE_LENGTH` messages behind the fan-out. Either ends the wait with a
//! close frame that says why. No other page waits meanwhile: the fan-out
//! never waits for anyone (see `fanout`).
//!
//! Each entry is sent once: the page's history and the fan-out may both
//! hold an entry written while the history was read (the page listens
//! before it asks, so that nothing falls between the two), and an entry
//! whose id is not after the last one sent is skipped.
//!
//! What waits when a send starts goes out in one write to the system (see
//! `batched`). And tungstenite, which keeps its own write buffer at the
//! largest size it ever needed for as long as the connection lives, is
//! never given more than `FRAME_BYTES` at a time: a longer message, such
//! as a history, goes out in fragments, which the browser joins into one
//! message again.

use std::time::Duration;

use futures_util::SinkExt;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use crate::chat_log::EntryId;
use crate::fanout::{Listener, News, QUEUE_LENGTH, TooSlow};
use crate::handshake::WebSocket;
use crate::shutdown::Notice;

/// The most bytes of one message given to tungstenite at a time; see the
/// module's comment. Who joined and most lines fit in one.
pub const FRAME_BYTES: usize = 256;

/// How many bytes of waiting messages are gathered into one send.
const BATCH_BYTES: usize = 4096;

/// How long a close frame may take to leave. A page that has stopped
/// reading gets this long to read again and hear why it is closed.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Why sending stopped.
pub enum Stop {
    /// Close the page with this frame.
    Close(CloseFrame),
    /// The connection broke.
    Failed(WsError),
}

/// What sends to a page: its WebSocket, its place in the fan-out, the
/// last entry it was sent, and the notice that the server stops.
pub struct Page {
    pub websocket: Box<WebSocket>,
    pub listener: Listener,
    pub last_sent: Option<EntryId>,
    pub shutdown: Notice,
}

impl Page {
    /// Sends `json`, a message for this page alone.
    pub async fn send(&mut self, json: String) -> Result<(), Stop> {
        let mut messages = Vec::new();
        add_frames(&mut messages, json.into());
        self.send_watched(messages).await
    }

    /// Sends the page's history, then what the fan-out brought while it
    /// was read, unless the page fell behind meanwhile.
    pub async fn send_history(
        &mut self,
        history: String,
        meanwhile: Vec<Result<News, TooSlow>>,
    ) -> Result<(), Stop> {
        let mut messages = Vec::new();
        add_frames(&mut messages, history.into());
        for news in meanwhile {
            let news = news.map_err(|TooSlow| too_slow())?;
            self.add_news(&mut messages, news);
        }
        self.send_watched(messages).await
    }

    /// Sends `news`, and all the news that is already waiting behind it
    /// (up to `BATCH_BYTES`), in one send.
    pub async fn send_news(&mut self, news: News) -> Result<(), Stop> {
        let mut messages = Vec::new();
        let mut bytes = self.add_news(&mut messages, news);
        while bytes < BATCH_BYTES {
            match self.listener.try_next() {
                Some(Ok(news)) => bytes += self.add_news(&mut messages, news),
                Some(Err(TooSlow)) => return Err(too_slow()),
                None => break,
            }
        }
        self.send_watched(messages).await
    }

    /// Adds the messages `news` makes for this page, skipping entries it
    /// was sent already; returns their size.
    fn add_news(&mut self, messages: &mut Vec<Message>, news: News) -> usize {
        let before = messages.len();
        match news {
            News::Entries(entries) => {
                for entry in entries.iter() {
                    if Some(entry.id) > self.last_sent {
                        self.last_sent = Some(entry.id);
                        add_frames(messages, entry.json.clone());
                    }
                }
            }
            News::Notice(json) => add_frames(messages, json.as_ref().into()),
        }
        messages[before..].iter().map(Message::len).sum()
    }

    /// Sends `messages`, watching the server and the fan-out while the
    /// page takes them. Boxed: a send is under way only now and then, and
    /// its state would otherwise take room in every waiting page's task.
    async fn send_watched(&mut self, messages: Vec<Message>) -> Result<(), Stop> {
        Box::pin(self.send_and_watch(messages)).await
    }

    async fn send_and_watch(&mut self, messages: Vec<Message>) -> Result<(), Stop> {
        let websocket = &mut *self.websocket;
        let sending = async move {
            for message in messages {
                websocket.feed(message).await?;
            }
            websocket.flush().await
        };
        tokio::select! {
            biased;
            () = self.shutdown.requested() => Err(going_away()),
            () = self.listener.fallen_behind() => Err(too_slow()),
            sent = sending => sent.map_err(Stop::Failed),
        }
    }

    /// Sends `frame` and lets the page answer it; returns what to log.
    pub async fn close(&mut self, frame: CloseFrame) -> String {
        let why = format!("closed with {}: {}", u16::from(frame.code), frame.reason);
        let _ = timeout(
            CLOSE_WAIT,
            WebSocket::close(&mut self.websocket, Some(frame)),
        )
        .await;
        why
    }
}

/// Adds `json` to `messages` as one frame, or as fragments of at most
/// `FRAME_BYTES` if it is longer.
fn add_frames(messages: &mut Vec<Message>, json: Utf8Bytes) {
    if json.len() <= FRAME_BYTES {
        messages.push(Message::Text(json));
        return;
    }
    let text = json.as_str();
    let bytes = Bytes::from(json.clone());
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + FRAME_BYTES).min(text.len());
        // Each fragment whole characters, though the browser would join
        // split ones too.
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let opcode = if start == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let last = end == text.len();
        messages.push(Message::Frame(Frame::message(
            bytes.slice(start..end),
            opcode,
            last,
        )));
        start = end;
    }
}

/// Code 1008 (policy violation): the page broke the rule that a page reads
/// what it is sent.
pub fn too_slow() -> Stop {
    Stop::Close(CloseFrame {
        code: CloseCode::Policy,
        reason: format!("too slow: {QUEUE_LENGTH} messages were waiting unread").into(),
    })
}

/// Code 1001 (going away): the server stops; the page may reconnect, and
/// nginx sends it to another instance.
pub fn going_away() -> Stop {
    Stop::Close(CloseFrame {
        code: CloseCode::Away,
        reason: "server shutting down".into(),
    })
}
