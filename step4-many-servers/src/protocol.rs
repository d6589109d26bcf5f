//! What the page and the server say to each other: JSON objects with a
//! `type`, read and written with serde.
//!
//! The page sends one kind of message, a chat line:
//! `{"type":"chat","text":"hello","client_id":"k3x9-1"}`. The `client_id`
//! is the page's own name for the line: the page keeps the line until the
//! server answers `sent` with that id, and sends it again after a
//! reconnect; the server writes a line once however often it comes (see
//! `once`). The server sends chat lines with their author, who joined and
//! who left, the history a page missed, `sent` and `not_sent` for the
//! sender's own lines, `paused` and `resumed` while Redis is away and
//! back, and errors the page shows. Every line of the chat log carries
//! the id Redis gave it (see `chat_log`), which is how a page that comes
//! back says where it stopped.

use serde::{Deserialize, Serialize};

/// The longest chat line we take, in characters. A longer one gets an
/// error, not a place in everyone's history.
pub const MAX_CHAT_CHARS: usize = 2000;

/// The longest `client_id`, in characters: ASCII letters, digits, `-`
/// and `_`, enough for a random part and a counter.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// What a page may send.
#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromPage {
    Chat {
        text: String,
        /// Optional, so that a hand-typed line still works; without it the
        /// line cannot be recognised when it comes twice.
        #[serde(default)]
        client_id: Option<String>,
    },
}

/// Why a page's message was refused, and which of its lines it was, if
/// it named one, so that the page stops keeping it.
#[derive(Debug)]
pub struct Refused {
    pub problem: String,
    pub client_id: Option<String>,
}

/// What the server sends to a page.
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToPage {
    Chat {
        id: String,
        author: String,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    Joined {
        id: String,
        name: String,
    },
    Left {
        id: String,
        name: String,
    },
    /// The first message on every connection: who and where you are, and
    /// the lines you have not seen yet, oldest first. `older_gone`: the
    /// page was away for more lines than the log keeps, so some it missed
    /// may be gone.
    History {
        instance: String,
        you: String,
        entries: Vec<ToPage>,
        older_gone: bool,
    },
    /// The sender's line `client_id` is in the log under `id` (written
    /// by Redis, now or the first time it came).
    Sent {
        client_id: String,
        id: String,
    },
    /// The sender's line `client_id` is not in the log; the page keeps it
    /// and sends it again when the chat resumes.
    NotSent {
        client_id: String,
        reason: String,
    },
    /// Redis is away: lines cannot be written or read until `resumed`.
    Paused {
        reason: String,
    },
    /// Redis is back, and the lines written meanwhile follow.
    Resumed,
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

/// An example of what we accept, for error messages.
const EXAMPLE: &str = r#"{"type":"chat","text":"hello","client_id":"k3x9-1"}"#;

/// Reads a page's message, or says what is wrong with it, in words the
/// page can show.
pub fn parse(text: &str) -> Result<FromPage, Refused> {
    let refused = |problem| Refused {
        problem,
        client_id: None,
    };
    // In two steps, so that each mistake gets its own answer: text that is
    // not JSON, then a `type` we do not know, then a wrong shape.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| refused(format!("not JSON ({error}); send {EXAMPLE}")))?;
    match value.get("type").and_then(|kind| kind.as_str()) {
        Some("chat") => {}
        Some(other) => {
            return Err(refused(format!(
                "unknown type `{other}`; this chat knows only `chat`: send {EXAMPLE}"
            )));
        }
        None => {
            return Err(refused(format!(
                "a message without a \"type\"; send {EXAMPLE}"
            )));
        }
    }
    let message = serde_json::from_value(value).map_err(|error| {
        refused(format!(
            "a chat message of the wrong shape ({error}); send {EXAMPLE}"
        ))
    })?;
    let FromPage::Chat { text, client_id } = &message;
    let problem = if client_id.as_deref().is_some_and(|id| !good_client_id(id)) {
        format!(
            "a client_id is 1 to {MAX_CLIENT_ID_CHARS} ASCII letters, digits, `-` or `_`; \
             send {EXAMPLE}"
        )
    } else if text.trim().is_empty() {
        "an empty chat line: type something first".to_string()
    } else if text.chars().count() > MAX_CHAT_CHARS {
        format!(
            "a chat line is at most {MAX_CHAT_CHARS} characters; this one has {}",
            text.chars().count()
        )
    } else {
        return Ok(message);
    };
    Err(Refused {
        problem,
        client_id: client_id.clone().filter(|id| good_client_id(id)),
    })
}

fn good_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

impl ToPage {
    pub fn error(message: String, client_id: Option<String>) -> ToPage {
        ToPage::Error { message, client_id }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("our messages are plain strings and lists")
    }
}
