//! What the page and the server say to each other: JSON objects with a
//! `type`, read and written with serde.
//!
//! The page sends one kind of message, a chat line:
//! `{"type":"chat","text":"hello"}`. The server sends chat lines with
//! their author, who joined and who left, the history a page missed, and
//! errors the page shows. Every line of the chat log carries the id Redis
//! gave it (see `chat_log`), which is how a page that comes back says
//! where it stopped.

use serde::{Deserialize, Serialize};

/// The longest chat line we take, in characters. A longer one gets an
/// error, not a place in everyone's history.
pub const MAX_CHAT_CHARS: usize = 2000;

/// What a page may send.
#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromPage {
    Chat { text: String },
}

/// What the server sends to a page.
#[derive(Serialize, Debug, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToPage {
    Chat {
        id: String,
        author: String,
        text: String,
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
    /// the lines you have not seen yet, oldest first.
    History {
        instance: String,
        you: String,
        entries: Vec<ToPage>,
    },
    Error {
        message: String,
    },
}

/// An example of what we accept, for error messages.
const EXAMPLE: &str = r#"{"type":"chat","text":"hello"}"#;

/// Reads a page's message, or says what is wrong with it, in words the
/// page can show.
pub fn parse(text: &str) -> Result<FromPage, String> {
    // In two steps, so that each mistake gets its own answer: text that is
    // not JSON, then a `type` we do not know, then a wrong shape.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| format!("not JSON ({error}); send {EXAMPLE}"))?;
    match value.get("type").and_then(|kind| kind.as_str()) {
        Some("chat") => {}
        Some(other) => {
            return Err(format!(
                "unknown type `{other}`; this chat knows only `chat`: send {EXAMPLE}"
            ));
        }
        None => return Err(format!("a message without a \"type\"; send {EXAMPLE}")),
    }
    let message = serde_json::from_value(value)
        .map_err(|error| format!("a chat message of the wrong shape ({error}); send {EXAMPLE}"))?;
    match &message {
        FromPage::Chat { text } if text.trim().is_empty() => {
            Err("an empty chat line: type something first".to_string())
        }
        FromPage::Chat { text } if text.chars().count() > MAX_CHAT_CHARS => Err(format!(
            "a chat line is at most {MAX_CHAT_CHARS} characters; this one has {}",
            text.chars().count()
        )),
        FromPage::Chat { .. } => Ok(message),
    }
}

impl ToPage {
    pub fn error(message: String) -> ToPage {
        ToPage::Error { message }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("our messages are plain strings and lists")
    }
}
