//! Rooms: `/?room=NAME` puts a page in a room, and what is said in a room
//! stays in it: its lines, its history, and what a page that comes back
//! missed. A page opened at `/` is in the room `lobby`.
//!
//! The room travels with every entry of the log, as a field (see
//! `chat_log`), because the instance that reads an entry is often not the
//! one that wrote it: instance B knows a line's room only if Redis tells
//! it. This module says what a room's name may be, and reads it from the
//! query of `/chat`.

use std::fmt;
use std::sync::Arc;

use warp::http::StatusCode;

use crate::refusal::Refusal;

/// The room of a page opened without `?room=`.
pub const DEFAULT: &str = "lobby";

/// The longest room name, in characters.
const MAX_ROOM_CHARS: usize = 32;

/// A room's name: 1 to `MAX_ROOM_CHARS` ASCII letters, digits, `-` or
/// `_`, so that it goes as it is into an address, a Redis field and a page.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
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

/// Takes `room=NAME` out of the query of `/chat`: the room (the lobby
/// without it) and the rest of the query, where the page says where it
/// stopped (see `conversation::resume_point`). A name that is no room's
/// is refused with 400, and told what a name is.
pub fn from_query(query: &str) -> Result<(Room, String), Refusal> {
    let mut room = Room::lobby();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let Some(name) = pair.strip_prefix("room=") else {
            rest.push(pair);
            continue;
        };
        room = Room::parse(name).ok_or_else(|| {
            let body = "A room's name is 1 to 32 letters, digits, - or _";
            let reason = format!("no room's name: {name:?}");
            Refusal::new("GET /chat".into(), StatusCode::BAD_REQUEST, body, &reason)
        })?;
    }
    Ok((room, rest.join("&")))
}

impl fmt::Display for Room {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}
