//! Rooms: `/?room=NAME` puts a page in a room, and what is said in a room
//! stays in it: its lines, its history, and what a page that comes back
//! missed. A page opened at `/` is in the room `lobby`.
//!
//! The room travels with every entry of the log, as a field (see
//! `chat_log`), because the instance that reads an entry is often not the
//! one that wrote it: instance B knows a line's room only if Redis tells
//! it. This module says what a room's name may be.

use std::fmt;
use std::sync::Arc;

/// The room of a page opened without `?room=`.
pub const DEFAULT: &str = "lobby";

/// The longest room name, in characters.
const MAX_ROOM_CHARS: usize = 32;

/// What a page opened with another name is told.
pub const RULE: &str = "A room's name is 1 to 32 letters, digits, - or _";

/// A room's name: 1 to `MAX_ROOM_CHARS` ASCII letters, digits, `-` or
/// `_`, so that it goes as it is into an address, a Redis field and a page.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Room(Arc<str>);

impl Room {
    /// The room of a page opened at `/`.
    pub fn lobby() -> Room {
        Room(DEFAULT.into())
    }

    /// The room called `name`, or `None` when that is not a room's name.
    pub fn parse(name: &str) -> Option<Room> {
        let good = (1..=MAX_ROOM_CHARS).contains(&name.len())
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        good.then(|| Room(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Room {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}
