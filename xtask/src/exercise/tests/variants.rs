//! The variants each exercise is checked against: the course's step, the
//! reference solution, solutions written another way from the chapter's
//! text (which must pass), and near misses (which must fail with a hint
//! about their own mistake). Each is a few find-and-replace edits of the
//! reference solution or of the course's step, so that it follows when
//! the step is reshaped; an edit whose text is gone fails the build of the
//! copies and names the copy.

use crate::copies::Change;
use crate::steps::workspace_root;

pub enum Base {
    Course,
    Solution,
}

pub enum Expect {
    Pass,
    /// Fails, with a hint that contains this text.
    Fail(&'static str),
}

pub struct Variant {
    pub label: &'static str,
    pub what: &'static str,
    pub base: Base,
    pub edits: Vec<Change>,
    pub expect: Expect,
}

const STEP1: &str = "step1-ws-only/src/main.rs";
const STEP3: &str = "step3-combined/src/main.rs";
const PAGE: &str = "step2-html-client/index.html";
const LOG4: &str = "step4-many-servers/src/chat_log.rs";
const FANOUT4: &str = "step4-many-servers/src/fanout.rs";
const SENDING4: &str = "step4-many-servers/src/sending.rs";
const TALK4: &str = "step4-many-servers/src/conversation.rs";
const ROOM4: &str = "step4-many-servers/src/room.rs";
const PAGE4: &str = "step4-many-servers/src/index.html";

fn course(about: &'static str) -> Variant {
    Variant {
        label: "course",
        what: "the course's step, the exercise not done",
        base: Base::Course,
        edits: Vec::new(),
        expect: Expect::Fail(about),
    }
}

fn solution() -> Variant {
    Variant {
        label: "solution",
        what: "the reference solution",
        base: Base::Solution,
        edits: Vec::new(),
        expect: Expect::Pass,
    }
}

/// A correct solution written another way: the reference with `edits`.
fn another(label: &'static str, what: &'static str, edits: Vec<Change>) -> Variant {
    Variant {
        label,
        what,
        base: Base::Solution,
        edits,
        expect: Expect::Pass,
    }
}

/// A near miss: the reference with `edits`, whose hint must say `about`.
fn near_miss(
    label: &'static str,
    what: &'static str,
    about: &'static str,
    edits: Vec<Change>,
) -> Variant {
    Variant {
        label,
        what,
        base: Base::Solution,
        edits,
        expect: Expect::Fail(about),
    }
}

fn replace(path: &str, from: &str, to: &str) -> Change {
    Change::replace(path, from, to)
}

/// The course's own file at `path`, over the solution's.
fn as_in_the_course(path: &str) -> Change {
    let text = std::fs::read_to_string(workspace_root().join(path))
        .unwrap_or_else(|error| panic!("the course's {path}: {error}"));
    Change::write(path, text)
}

pub fn of(number: u8) -> Vec<Variant> {
    match number {
        1 => echo(),
        2 => numbered(),
        3 => chat(),
        4 => heartbeat(),
        5 => reconnect(),
        6 => rooms(),
        _ => Vec::new(),
    }
}

fn echo() -> Vec<Variant> {
    let send = "if let Err(error) = websocket.send(echo).await {";
    vec![
        course("send format!(\"Echo: {text}\") back"),
        solution(),
        another(
            "feed-flush",
            "the echo written with feed and flush",
            vec![replace(
                STEP1,
                send,
                "if let Err(error) = async { websocket.feed(echo).await?; websocket.flush().await }.await {",
            )],
        ),
        another(
            "echo-then-print",
            "the echo sent before the Received: line is printed",
            vec![
                replace(
                    STEP1,
                    "                    println!(\"Received: {text}\");\n",
                    "",
                ),
                replace(
                    STEP1,
                    "                        return format!(\"echo failed: {error}\");\n                    }\n",
                    "                        return format!(\"echo failed: {error}\");\n                    }\n                    println!(\"Received: {text}\");\n",
                ),
            ],
        ),
        another(
            "text-variant",
            "the message built as Message::Text(String.into())",
            vec![replace(
                STEP1,
                "Message::text(format!(\"Echo: {text}\"))",
                "Message::Text(format!(\"Echo: {}\", text.as_str()).into())",
            )],
        ),
        near_miss(
            "no-prefix",
            "an echo without the prefix",
            "came back as it was",
            vec![replace(
                STEP1,
                "format!(\"Echo: {text}\")",
                "format!(\"{text}\")",
            )],
        ),
        near_miss(
            "no-space",
            "`Echo:` without its space",
            "exactly",
            vec![replace(STEP1, "\"Echo: {text}\"", "\"Echo:{text}\"")],
        ),
        near_miss(
            "once",
            "answers the first message, then ends the conversation",
            "a later one was not",
            vec![replace(
                STEP1,
                "                        return format!(\"echo failed: {error}\");\n                    }\n",
                "                        return format!(\"echo failed: {error}\");\n                    }\n                    return \"echoed once\".to_string();\n",
            )],
        ),
        near_miss(
            "no-print",
            "echoes, but no longer prints Received:",
            "keep the println!",
            vec![replace(
                STEP1,
                "                    println!(\"Received: {text}\");\n",
                "",
            )],
        ),
    ]
}

fn numbered() -> Vec<Variant> {
    let take = "    let number = CLIENTS_SO_FAR.fetch_add(1, Ordering::Relaxed) + 1;\n";
    let print = "    println!(\"Client #{number} connected\");\n";
    let accept = "    let Some(websocket) = handshake::accept(";
    vec![
        course("a second static AtomicUsize"),
        solution(),
        another(
            "after-connected",
            "the Client # line printed after the Connected: line",
            vec![
                replace(STEP1, print, ""),
                replace(
                    STEP1,
                    "    println!(\"Connected: {peer} ({open} open)\");\n",
                    "    println!(\"Connected: {peer} ({open} open)\");\n    println!(\"Client #{number} connected\");\n",
                ),
            ],
        ),
        another(
            "seqcst",
            "the count taken with Ordering::SeqCst",
            vec![replace(
                STEP1,
                "CLIENTS_SO_FAR.fetch_add(1, Ordering::Relaxed)",
                "CLIENTS_SO_FAR.fetch_add(1, Ordering::SeqCst)",
            )],
        ),
        near_miss(
            "open-count",
            "the number of open connections instead of a count",
            "given again",
            vec![replace(
                STEP1,
                "println!(\"Client #{number} connected\");",
                "println!(\"Client #{open} connected\");",
            )],
        ),
        near_miss(
            "tcp-count",
            "every accepted TCP connection counted, the number printed after the handshake",
            "refused HTTP request took a",
            vec![
                replace(STEP1, take, ""),
                replace(STEP1, accept, &format!("{take}{accept}")),
            ],
        ),
        near_miss(
            "tcp-line",
            "every accepted TCP connection numbered and printed, before the handshake",
            "refused HTTP request took a",
            vec![
                replace(STEP1, take, ""),
                replace(STEP1, print, ""),
                replace(STEP1, accept, &format!("{take}{print}{accept}")),
            ],
        ),
        near_miss(
            "counted-down",
            "the count goes down when a client leaves",
            "given again",
            vec![replace(
                STEP1,
                "    let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;\n",
                "    let open = OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed) - 1;\n    CLIENTS_SO_FAR.fetch_sub(1, Ordering::Relaxed);\n",
            )],
        ),
    ]
}

fn chat() -> Vec<Variant> {
    let into_channel = "let _ = chat.send(text.to_string());";
    vec![
        course("broadcast channel"),
        solution(),
        another(
            "roomier",
            "a channel that holds 100 messages",
            vec![replace(
                STEP3,
                "broadcast::channel::<String>(64)",
                "broadcast::channel::<String>(100)",
            )],
        ),
        near_miss(
            "sender-only",
            "a chat that only answers the sender",
            "only the sender's own page",
            vec![replace(
                STEP3,
                into_channel,
                "let _ = websocket.send(Message::text(text)).await;",
            )],
        ),
        near_miss(
            "twice",
            "each text into the channel and also straight back",
            "more than once",
            vec![replace(
                STEP3,
                into_channel,
                "let _ = chat.send(text.to_string());\n                    let _ = websocket.send(Message::text(text)).await;",
            )],
        ),
        near_miss(
            "watch",
            "a chat over a watch channel, which keeps only the latest message",
            "were lost",
            vec![
                replace(
                    STEP3,
                    "broadcast::channel::<String>(64)",
                    "tokio::sync::watch::channel(String::new())",
                ),
                replace(
                    STEP3,
                    "broadcast::Sender<String>",
                    "tokio::sync::watch::Sender<String>",
                ),
                replace(
                    STEP3,
                    "said = heard.recv() => match said {",
                    "said = heard.changed() => match said.map(|()| heard.borrow_and_update().clone()) {",
                ),
                replace(
                    STEP3,
                    "                Err(broadcast::error::RecvError::Lagged(missed)) => {\n                    println!(\"a slow client missed {missed} chat messages\");\n                }\n                Err(broadcast::error::RecvError::Closed) => return \"the chat ended\".to_string(),",
                    "                Err(_) => return \"the chat ended\".to_string(),",
                ),
            ],
        ),
    ]
}

fn heartbeat() -> Vec<Variant> {
    let check_then_ping = "                if !answered {\n                    return format!(\"no pong within {heartbeat:?} of a ping, dropped\");\n                }\n                answered = false;\n";
    vec![
        course("tokio::time::interval"),
        solution(),
        another(
            "at-once",
            "an interval whose first tick fires at once",
            vec![replace(
                STEP1,
                "    ticks.tick().await; // the first tick comes at once\n",
                "",
            )],
        ),
        another(
            "with-greeting",
            "the first ping written together with the greeting (feed, feed, flush)",
            vec![
                replace(
                    STEP1,
                    "    if let Err(error) = websocket.send(Message::text(GREETING)).await {",
                    "    let greeting_and_ping = async {\n        websocket.feed(Message::text(GREETING)).await?;\n        websocket.feed(Message::Ping(Default::default())).await?;\n        websocket.flush().await\n    };\n    if let Err(error) = greeting_and_ping.await {",
                ),
                replace(
                    STEP1,
                    "    let mut answered = true;\n",
                    "    let mut answered = false;\n",
                ),
            ],
        ),
        another(
            "delayed-ticks",
            "an interval that delays missed ticks",
            vec![replace(
                STEP1,
                "    ticks.tick().await; // the first tick comes at once\n",
                "    ticks.tick().await; // the first tick comes at once\n    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);\n",
            )],
        ),
        another(
            "ping-payload",
            "pings that carry a few bytes",
            vec![replace(
                STEP1,
                "Message::Ping(Default::default())",
                "Message::Ping(b\"heartbeat\".to_vec().into())",
            )],
        ),
        near_miss(
            "never-drops",
            "pings, but never drops a client that does not answer",
            "At each tick, first check",
            vec![replace(STEP1, "if !answered {", "if false && !answered {")],
        ),
        near_miss(
            "no-pong",
            "never notes a pong, so every client is dropped",
            "an arm for Message::Pong",
            vec![replace(
                STEP1,
                "Some(Ok(Message::Pong(_))) => answered = true,",
                "Some(Ok(Message::Pong(_))) => {}",
            )],
        ),
        near_miss(
            "no-env",
            "ignores HEARTBEAT_SECS",
            "read HEARTBEAT_SECS",
            vec![replace(
                STEP1,
                "std::env::var(\"HEARTBEAT_SECS\")",
                "std::env::var(\"NOT_HEARTBEAT_SECS\")",
            )],
        ),
        near_miss(
            "one-late",
            "drops the silent client one ping late, at the third tick",
            "one ping late",
            vec![
                replace(
                    STEP1,
                    check_then_ping,
                    "                if !answered && late {\n                    return format!(\"no pong within {heartbeat:?} of a ping, dropped\");\n                }\n                late = !answered;\n                answered = false;\n",
                ),
                replace(
                    STEP1,
                    "    let mut answered = true;\n",
                    "    let mut answered = true;\n    let mut late = false;\n",
                ),
            ],
        ),
        near_miss(
            "default-30",
            "30 s when HEARTBEAT_SECS is unset, where the chapter says 5",
            "is not set, the interval is 5 seconds",
            vec![replace(
                STEP1,
                "Duration::from_secs(5);",
                "Duration::from_secs(30);",
            )],
        ),
        near_miss(
            "no-grace",
            "drops a client at the first tick, before any ping",
            "start with `answered` true",
            vec![replace(
                STEP1,
                "    let mut answered = true;\n",
                "    let mut answered = false;\n",
            )],
        ),
    ]
}

fn reconnect() -> Vec<Variant> {
    let double = "delay = Math.min(delay * 2, 30);";
    let wait = "setTimeout(connect, delay * 1000);";
    vec![
        course("connect()"),
        solution(),
        another(
            "counted-tries",
            "the wait worked out from a count of tries",
            vec![
                replace(PAGE, "    let delay = 1;\n", "    let tries = 0;\n"),
                replace(PAGE, "        delay = 1;\n", "        tries = 0;\n"),
                replace(
                    PAGE,
                    "        show('Reconnecting in ' + delay + ' s');\n        setTimeout(connect, delay * 1000);\n        delay = Math.min(delay * 2, 30);\n",
                    "        const wait = Math.min(2 ** tries, 30);\n        tries += 1;\n        show('Reconnecting in ' + wait + ' s');\n        setTimeout(connect, wait * 1000);\n",
                ),
            ],
        ),
        near_miss(
            "same-wait",
            "reconnects, but always after the same delay",
            "double the delay",
            vec![replace(PAGE, double, "")],
        ),
        near_miss(
            "plus-one",
            "waits of 1, 2, 3 s: one more each time, not double",
            "double the delay",
            vec![replace(PAGE, double, "delay = Math.min(delay + 1, 30);")],
        ),
        near_miss(
            "milliseconds",
            "setTimeout given seconds as milliseconds: a flood",
            "setTimeout counts milliseconds",
            vec![replace(PAGE, wait, "setTimeout(connect, delay);")],
        ),
        near_miss(
            "interval",
            "setInterval, which keeps opening sockets",
            "setInterval",
            vec![replace(PAGE, wait, "setInterval(connect, delay * 1000);")],
        ),
        near_miss(
            "no-reset",
            "never goes back to 1 s after a reconnect",
            "set the delay back to 1",
            vec![replace(PAGE, "        delay = 1;\n", "")],
        ),
        near_miss(
            "first-socket",
            "reconnects, but the Send button keeps the first socket",
            "newest socket",
            vec![
                replace(PAGE, "      socket.send(text);", "      first.send(text);"),
                replace(
                    PAGE,
                    "    connect();\n",
                    "    connect();\n    const first = socket;\n",
                ),
            ],
        ),
    ]
}

fn rooms() -> Vec<Variant> {
    let to_its_room = "        if let Some(channel) = self.rooms.lock().unwrap().get(room) {\n            let _ = channel.send(News::Entries(entries));\n        }\n";
    let in_room = ".filter(|entry| in_room(entry, room))";
    vec![
        course("read the room from the page's address"),
        solution(),
        another(
            "one-channel-page-skips",
            "the course's one channel for every room, each page skipping other rooms' entries as it sends",
            vec![
                replace(
                    LOG4,
                    "pub struct Delivery {\n    pub id: EntryId,\n",
                    "pub struct Delivery {\n    pub id: EntryId,\n    pub room: Room,\n",
                ),
                replace(
                    LOG4,
                    "            let delivery = Delivery {\n                id,\n",
                    "            let delivery = Delivery {\n                id,\n                room: room_of(&entry),\n",
                ),
                replace(
                    LOG4,
                    "        for (room, entries) in read {\n            fanout.deliver(&room, entries.into());\n",
                    "        for (_, entries) in read {\n            fanout.deliver(entries.into());\n",
                ),
                as_in_the_course(FANOUT4),
                replace(TALK4, "chat.fanout.listen(room)", "chat.fanout.listen()"),
                replace(
                    TALK4,
                    "        last_sent,\n        shutdown,\n    };\n",
                    "        last_sent,\n        shutdown,\n        room: room.clone(),\n    };\n",
                ),
                replace(
                    SENDING4,
                    "    pub shutdown: Notice,\n}\n",
                    "    pub shutdown: Notice,\n    pub room: crate::room::Room,\n}\n",
                ),
                replace(
                    SENDING4,
                    "if Some(entry.id) > self.last_sent {",
                    "if entry.room == self.room && Some(entry.id) > self.last_sent {",
                ),
            ],
        ),
        another(
            "history-whole-log",
            "a new page's history looked for in one read of the whole log, not back from the newest in steps",
            vec![replace(
                LOG4,
                "            let mut entries: Vec<StreamId> = Vec::new();\n            let mut before = \"+\".to_string();\n            while entries.len() < RECENT_ENTRIES {\n                let reply: StreamRangeReply = redis\n                    .xrevrange_count(STREAM, before.as_str(), \"-\", RECENT_ENTRIES)\n                    .await?;\n                let Some(oldest) = reply.ids.last() else {\n                    break;\n                };\n                // `(` makes the end exclusive: the next read goes on below it.\n                before = format!(\"({}\", oldest.id);\n                let of_room = reply.ids.into_iter().filter(|entry| in_room(entry, room));\n                entries.extend(of_room);\n            }\n            entries.truncate(RECENT_ENTRIES);\n",
                "            let reply: StreamRangeReply = redis\n                .xrevrange_count(STREAM, \"+\", \"-\", KEPT_ENTRIES)\n                .await?;\n            let of_room = reply.ids.into_iter().filter(|entry| in_room(entry, room));\n            let entries: Vec<StreamId> = of_room.take(RECENT_ENTRIES).collect();\n",
            )],
        ),
        near_miss(
            "server-refuses-room",
            "the page sends its room, and the server refuses a query it does not read",
            "let it take room=NAME as well as after=ID",
            vec![replace(
                ROOM4,
                "pair.strip_prefix(\"room=\")",
                "pair.strip_prefix(\"room:\")",
            )],
        ),
        near_miss(
            "leaks-live",
            "every entry to every page: the room is written, but the fan-out ignores it",
            "Hand each entry only to the pages whose room",
            vec![
                replace(
                    FANOUT4,
                    to_its_room,
                    "        for channel in self.rooms.lock().unwrap().values() {\n            let _ = channel.send(News::Entries(Arc::clone(&entries)));\n        }\n",
                ),
                replace(
                    FANOUT4,
                    "pub fn deliver(&self, room: &Room,",
                    "pub fn deliver(&self, _room: &Room,",
                ),
            ],
        ),
        near_miss(
            "history-every-room",
            "a new page's history from every room",
            "got the last lines of every room",
            vec![replace(
                LOG4,
                &format!("let of_room = reply.ids.into_iter(){in_room};\n                entries"),
                "let of_room = reply.ids.into_iter();\n                entries",
            )],
        ),
        near_miss(
            "replay-every-room",
            "a page that comes back gets what every room said meanwhile",
            "got what every room said while it was away",
            vec![replace(
                LOG4,
                &format!(
                    "let of_room = reply.ids.into_iter(){in_room};\n            let older_gone"
                ),
                "let of_room = reply.ids.into_iter();\n            let older_gone",
            )],
        ),
        near_miss(
            "one-instance",
            "each entry's room looked up by its author among this instance's pages",
            "on the sender's instance only",
            vec![
                replace(
                    LOG4,
                    "fn room_of(entry: &StreamId) -> Room {\n    let named: Option<String> = entry.get(\"room\");\n",
                    "pub static ROOM_OF_AUTHOR: std::sync::Mutex<Vec<(String, Room)>> =\n    std::sync::Mutex::new(Vec::new());\n\nfn room_of(entry: &StreamId) -> Room {\n    let author: Option<String> = entry.get(\"name\");\n    let rooms = ROOM_OF_AUTHOR.lock().unwrap();\n    let named = author.and_then(|author| {\n        let found = rooms.iter().rev().find(|(name, _)| *name == author);\n        found.map(|(_, room)| room.to_string())\n    });\n",
                ),
                replace(
                    TALK4,
                    "    let mut listener = chat.fanout.listen(room);\n",
                    "    let known = (name.to_string(), room.clone());\n    crate::chat_log::ROOM_OF_AUTHOR.lock().unwrap().push(known);\n    let mut listener = chat.fanout.listen(room);\n",
                ),
            ],
        ),
        near_miss(
            "reconnect-forgets-room",
            "the page reconnects with after= alone, without its room",
            "came back in the room of `/`",
            vec![replace(
                PAGE4,
                "      const query = new URLSearchParams({ room });\n      if (lastId) query.set('after', lastId);\n",
                "      const query = new URLSearchParams(lastId ? { after: lastId } : { room });\n",
            )],
        ),
        near_miss(
            "default-main",
            "`/` in a room called main, where the chapter says lobby",
            "without ?room= is `lobby`",
            vec![
                replace(
                    ROOM4,
                    "pub const DEFAULT: &str = \"lobby\";",
                    "pub const DEFAULT: &str = \"main\";",
                ),
                replace(PAGE4, "get('room') ?? 'lobby'", "get('room') ?? 'main'"),
            ],
        ),
        near_miss(
            "length-only",
            "a room name checked for its length only",
            "1 to 32 letters, digits",
            vec![replace(
                ROOM4,
                "\n            && name\n                .bytes()\n                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');",
                ";",
            )],
        ),
    ]
}
