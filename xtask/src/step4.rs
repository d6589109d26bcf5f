//! Tests: step 4, several instances sharing one chat through a real Redis.
//!
//! Each test starts its own `redis-server` on a free port of 127.0.0.1, in
//! a temporary directory, with append-only persistence on (as a real chat
//! would run it), and one or two instances of step 4 pointed at it with
//! `REDIS_URL`. The clients log in with `POST /login` and speak the JSON
//! protocol over real WebSockets, as the page does.
//!
//! Without `redis-server` the tests say in one line how to install it and
//! pass, unless `REQUIRE_TOOLS=1` (as in CI) makes them fail (see `tools`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

// The pieces that start Redis, step 4 and nginx and talk to them live in
// `many_servers`, which `cargo xtask verify` uses too.
use crate::many_servers;
pub(crate) use crate::many_servers::{
    ARRIVES, Balancer, Redis, close_code, find_nginx, find_redis, log_in, next_json, open_chat,
    open_chat_over, say, until_chat, upgrade_request, wait_for_text,
};
use crate::steps::{Program, Running, Stop};
use crate::tools;
use crate::wire;

/// Builds step 4 once per test process.
fn build_step4() {
    if let Err(why) = many_servers::build_step4() {
        panic!("{why}");
    }
}

/// Redis, or `None` when the test is skipped for want of it; step 4 built.
pub(crate) async fn redis_for_test() -> Option<Redis> {
    let program = tools::require_or_skip("redis-server", find_redis())?;
    build_step4();
    Some(Redis::start(&program).await.unwrap())
}

/// An instance of step 4 on a free port, using `redis`.
pub(crate) async fn instance(redis: &Redis, name: &str) -> Running {
    many_servers::start_instance(redis, name).await.unwrap()
}

/// The upgrade needs a session (401 before any 101 without one, or with a
/// token Redis does not know), and our own page (403 for another origin,
/// even with a valid session); with both it gets its 101.
#[tokio::test(flavor = "multi_thread")]
async fn the_upgrade_needs_a_session_and_our_own_page() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let port = step4.port;
    let token = log_in(port, "alice").await.unwrap();
    let ours = format!("Origin: http://localhost:{port}\r\n");
    let cases = [
        ("no cookie", ours.clone(), 401),
        (
            "an unknown token",
            format!("{ours}Cookie: session=0123456789abcdef\r\n"),
            401,
        ),
        (
            "another site's page",
            format!("Origin: http://evil.example\r\nCookie: session={token}\r\n"),
            403,
        ),
        (
            "our page, logged in",
            format!("{ours}Cookie: session={token}\r\n"),
            101,
        ),
    ];
    for (case, headers, expected) in cases {
        let answer = wire::ask(port, upgrade_request(port, &headers).as_bytes())
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            expected,
            "{case}: got {:?}; step 4 printed {:?}",
            answer.status_line,
            step4.output.lines()
        );
        println!("{case}: {}", answer.status_line);
    }

    // Nor may another site's page log a visitor in under a name it chose.
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://evil.example\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\
         Connection: close\r\n\r\nname=eve"
    );
    let answer = wire::ask(port, request.as_bytes()).await.unwrap();
    assert_eq!(
        answer.status, 403,
        "a login from another site: {}",
        answer.status_line
    );
    assert!(
        answer.header("set-cookie").is_none(),
        "a login from another site got a cookie"
    );
}

/// Two instances, one Redis: a line typed on a page of A reaches a page of
/// B, with its author and an id; each page says which instance it talks to.
#[tokio::test(flavor = "multi_thread")]
async fn a_line_sent_on_one_instance_reaches_a_page_on_the_other() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (a, b) = tokio::join!(instance(&redis, "A"), instance(&redis, "B"));
    let alice = log_in(a.port, "alice").await.unwrap();
    // A session made on A is good on B: it lives in Redis.
    let (mut on_a, history_a) = open_chat(a.port, &alice, None).await.unwrap();
    let (mut on_b, history_b) = open_chat(b.port, &alice, None).await.unwrap();
    assert_eq!(history_a["instance"], "A");
    assert_eq!(history_b["instance"], "B");

    say(&mut on_a, "hello from A").await.unwrap();
    let arrived = until_chat(&mut on_b, "hello from A").await.unwrap();
    assert_eq!(arrived["author"], "alice", "{arrived}");
    assert!(
        arrived["id"].as_str().is_some_and(|id| id.contains('-')),
        "{arrived}"
    );
    println!("sent on A, arrived on B: {arrived}");
}

/// The most bytes of one frame step 4 sends (its `sending::FRAME_BYTES`):
/// a longer message comes in fragments, so that no connection's write
/// buffer grows past it.
const FRAME_BYTES: usize = 256;

/// The frames of the next message from the server, within `ARRIVES`: the
/// first opcode, each fragment's size, and the text they join into.
async fn fragments(socket: &mut wire::RawSocket) -> (u8, Vec<usize>, String) {
    let mut opcode = None;
    let mut sizes = Vec::new();
    let mut text = Vec::new();
    loop {
        let frame = socket.frame(ARRIVES).await.unwrap();
        if opcode.is_some() {
            assert_eq!(
                frame.opcode, 0,
                "a fragment after the first is not a continuation"
            );
        }
        opcode.get_or_insert(frame.opcode);
        sizes.push(frame.payload.len());
        text.extend_from_slice(&frame.payload);
        if frame.fin {
            let text = String::from_utf8(text).expect("the fragments join into UTF-8");
            return (opcode.unwrap(), sizes, text);
        }
    }
}

/// A history longer than a frame, and a chat line of 2,000 Korean
/// characters (6,000 bytes), arrive whole, as one message each, in
/// fragments of at most `FRAME_BYTES`; the line is shown whole in a later
/// page's history too.
#[tokio::test(flavor = "multi_thread")]
async fn long_messages_arrive_whole_in_small_frames() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let port = step4.port;
    let token = log_in(port, "minji").await.unwrap();
    let (mut writer, _) = open_chat(port, &token, None).await.unwrap();
    let long_line: String = "웹소켓".repeat(667).chars().take(2000).collect();
    assert!(long_line.len() > 20 * FRAME_BYTES);
    say(&mut writer, &long_line).await.unwrap();
    until_chat(&mut writer, &long_line).await.unwrap();

    let headers = format!("Origin: http://localhost:{port}\r\nCookie: session={token}\r\n");
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut raw = wire::upgrade_raw(stream, &upgrade_request(port, &headers))
        .await
        .unwrap();
    let (opcode, sizes, history) = fragments(&mut raw).await;
    assert_eq!(opcode, wire::TEXT, "the history is not a text message");
    assert!(
        sizes.len() > 1,
        "a history of {} bytes in one frame",
        history.len()
    );
    assert!(
        sizes.iter().all(|size| *size <= FRAME_BYTES),
        "frames of {sizes:?} bytes"
    );
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["type"], "history");
    let shown = history["entries"].as_array().unwrap();
    assert!(
        shown
            .iter()
            .any(|entry| entry["text"] == long_line.as_str()),
        "the long line is not whole in the history: {history}"
    );
    println!(
        "history of {} entries in {} frames of at most {} bytes",
        shown.len(),
        sizes.len(),
        sizes.iter().max().unwrap()
    );

    let second: String = long_line.chars().rev().collect();
    say(&mut writer, &second).await.unwrap();
    loop {
        let (opcode, sizes, text) = fragments(&mut raw).await;
        assert_eq!(opcode, wire::TEXT);
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] == "chat" {
            assert_eq!(message["text"], second.as_str());
            assert!(sizes.iter().all(|size| *size <= FRAME_BYTES), "{sizes:?}");
            println!("a line of {} bytes in {} frames", second.len(), sizes.len());
            break;
        }
    }
}

/// How many lines the fast typist sends without waiting.
const FAST_LINES: usize = 2000;

/// A page that sends line after line without waiting, and reads, is
/// served: each line is answered `sent` and comes back through the chat,
/// and the page is never taken for one that stopped reading. While Redis
/// writes a line, the chat goes on to the page.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_types_fast_and_reads_is_served() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let token = log_in(step4.port, "fast").await.unwrap();
    let (socket, _) = open_chat(step4.port, &token, None).await.unwrap();
    let (mut typing, mut reading) = socket.split();
    let typed = async {
        for number in 0..FAST_LINES {
            let line = serde_json::json!({"type": "chat", "text": format!("fast {number}"),
                "client_id": format!("fast-{number}")});
            typing.send(Message::text(line.to_string())).await.unwrap();
        }
    };
    let read = async {
        let (mut answered, mut echoed) = (0, 0);
        while answered < FAST_LINES || echoed < FAST_LINES {
            let message = timeout(ARRIVES, reading.next())
                .await
                .unwrap_or_else(|_| panic!("{answered} answered and {echoed} back, then nothing"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    answered += usize::from(message["type"] == "sent");
                    echoed += usize::from(message["type"] == "chat");
                }
                Some(Ok(Message::Close(frame))) => {
                    panic!("closed after {answered} answers and {echoed} lines back: {frame:?}")
                }
                Some(Ok(_)) => {}
                other => panic!("after {answered} answers and {echoed} lines back: {other:?}"),
            }
        }
        (answered, echoed)
    };
    let ((), (answered, echoed)) = tokio::join!(typed, read);
    println!("{FAST_LINES} lines typed at once: {answered} answered, {echoed} back");
}

/// A page that reconnects with the id of the last line it showed gets
/// exactly the lines written after it, in order, each once, then the live
/// chat. Here another page writes a burst of lines, without waiting,
/// while the page goes away and comes back again and again, on one
/// instance and then the other: so lines arrive while its history is being
/// read, which is where a line could be lost or come twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_comes_back_gets_exactly_what_it_missed() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (a, b) = tokio::join!(instance(&redis, "A"), instance(&redis, "B"));
    let (alice, bob) = (
        log_in(a.port, "alice").await.unwrap(),
        log_in(b.port, "bob").await.unwrap(),
    );
    let (mut page, _) = open_chat(a.port, &alice, None).await.unwrap();
    say(&mut page, "before").await.unwrap();
    let mut last_id = until_chat(&mut page, "before").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(page);

    const LINES: usize = 400;
    let (mut writer, _) = open_chat(b.port, &bob, None).await.unwrap();
    let writing = tokio::spawn(async move {
        for number in 0..LINES {
            say(&mut writer, &format!("line {number}")).await.unwrap();
        }
        writer
    });

    let mut seen = Seen {
        texts: Vec::new(),
        ids: vec![last_id.clone()],
    };
    let last_line = format!("line {}", LINES - 1);
    let mut visits = 0;
    while seen.texts.last() != Some(&last_line) {
        // Alternate between the instances; read a few live messages, leave.
        let port = [a.port, b.port][visits % 2];
        visits += 1;
        let (mut page, history) = open_chat(port, &alice, Some(&last_id)).await.unwrap();
        for entry in history["entries"].as_array().unwrap() {
            last_id = seen.take(entry);
        }
        for _ in 0..5 {
            if seen.texts.last() == Some(&last_line) {
                break;
            }
            let message = next_json(&mut page).await.unwrap();
            if message["id"].is_string() {
                last_id = seen.take(&message);
            }
        }
    }
    drop(writing.await.unwrap());
    let expected: Vec<String> = (0..LINES).map(|number| format!("line {number}")).collect();
    let twice = seen
        .ids
        .windows(2)
        .find(|pair| pair[0] == pair[1] || !newer(&pair[1], &pair[0]));
    assert!(
        twice.is_none(),
        "entries came twice or out of order: {twice:?}"
    );
    assert_eq!(seen.texts, expected, "lines missing or out of order");
    println!(
        "{LINES} lines written while the page came back {visits} times: each seen once, in order"
    );
}

/// Whether stream id `later` (`1733050000000-1`) comes after `earlier`.
fn newer(later: &str, earlier: &str) -> bool {
    let parse = |id: &str| {
        let (millis, counter) = id.split_once('-').expect("a stream id");
        (
            millis.parse::<u64>().unwrap(),
            counter.parse::<u64>().unwrap(),
        )
    };
    parse(later) > parse(earlier)
}

/// What a page has shown: bob's chat lines, and the id of every entry.
struct Seen {
    texts: Vec<String>,
    ids: Vec<String>,
}

impl Seen {
    /// Notes an entry; returns its id, the page's new place in the log.
    fn take(&mut self, entry: &Value) -> String {
        if entry["type"] == "chat" && entry["author"] == "bob" {
            self.texts.push(entry["text"].as_str().unwrap().to_string());
        }
        let id = entry["id"].as_str().unwrap().to_string();
        self.ids.push(id.clone());
        id
    }
}

/// Bad JSON and an unknown type get an error message that says why, and
/// the page stays connected; a binary frame is closed with 1003 and a
/// message over the limit with 1009, each with a reason; the server serves
/// on.
#[tokio::test(flavor = "multi_thread")]
async fn bad_messages_get_an_answer_that_says_why() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let token = log_in(step4.port, "alice").await.unwrap();
    let (mut page, _) = open_chat(step4.port, &token, None).await.unwrap();
    for (sent, expected) in [
        ("{not json", "not JSON"),
        (r#"{"type":"shout","text":"hi"}"#, "unknown type `shout`"),
    ] {
        page.send(Message::text(sent)).await.unwrap();
        let answer = loop {
            let message = next_json(&mut page).await.unwrap();
            if message["type"] == "error" {
                break message;
            }
        };
        let said = answer["message"].as_str().unwrap();
        assert!(said.contains(expected), "{sent} got the error {said:?}");
        println!("{sent} -> error: {said}");
    }
    say(&mut page, "still here").await.unwrap();
    until_chat(&mut page, "still here").await.unwrap();

    page.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let (code, reason) = close_code(&mut page, ARRIVES).await.unwrap();
    assert_eq!(code, 1003, "a binary frame closed with {code} {reason:?}");
    println!("a binary frame -> {code} {reason}");

    let (mut page, _) = open_chat(step4.port, &token, None).await.unwrap();
    page.send(Message::text("x".repeat(20_000))).await.unwrap();
    let (code, reason) = close_code(&mut page, ARRIVES).await.unwrap();
    assert_eq!(code, 1009, "20,000 bytes closed with {code} {reason:?}");
    println!("20,000 bytes -> {code} {reason}");

    let (mut page, _) = open_chat(step4.port, &token, None).await.unwrap();
    say(&mut page, "served on").await.unwrap();
    until_chat(&mut page, "served on").await.unwrap();
}

/// A page that stops reading is closed with 1008 and a reason once 256
/// messages wait unread for it, while a page that reads gets every line:
/// the fan-out never waits for the slow one.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_stops_reading_is_closed_and_the_others_are_served() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let port = step4.port;
    let (slow_token, reader_token, writer_token) = (
        log_in(port, "slow").await.unwrap(),
        log_in(port, "reader").await.unwrap(),
        log_in(port, "writer").await.unwrap(),
    );
    // A small receive buffer, so that the system holds little for the
    // page that does not read and the server notices sooner.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let (mut slow, _) = open_chat_over(stream, port, &slow_token, None)
        .await
        .unwrap();
    let (mut reader, _) = open_chat(port, &reader_token, None).await.unwrap();
    let (mut writer, _) = open_chat(port, &writer_token, None).await.unwrap();

    let long = "x".repeat(1990);
    let mut sent = 0;
    let dropped = loop {
        let text = format!("{sent:05} {long}");
        say(&mut writer, &text).await.unwrap();
        until_chat(&mut writer, &text).await.unwrap();
        until_chat(&mut reader, &text)
            .await
            .unwrap_or_else(|error| panic!("the page that reads missed line {sent}: {error:#}"));
        sent += 1;
        let closed = step4
            .output
            .lines()
            .into_iter()
            .find(|line| line.starts_with("Too slow: slow's page"));
        if let Some(line) = closed {
            break line;
        }
        assert!(
            sent < 5000,
            "the page that does not read was still open after {sent} lines"
        );
    };
    println!("after {sent} lines of 2 KB: {dropped}");

    // The page that reads is still served.
    say(&mut writer, "after").await.unwrap();
    until_chat(&mut reader, "after").await.unwrap();
    // The slow page, reading again, hears why it was closed.
    match close_code(&mut slow, ARRIVES).await {
        Ok((code, reason)) => {
            assert_eq!(code, 1008, "{reason}");
            println!("the slow page, reading again, got {code} {reason}");
        }
        Err(error) => panic!("the slow page got no close frame: {error:#}"),
    }
    let disconnected = step4
        .output
        .wait_for(0, ARRIVES, |line| line.starts_with("Disconnected: slow"))
        .await
        .unwrap();
    assert!(disconnected.contains("1008"), "{disconnected}");
}

/// SIGTERM closes every page with 1001, and the instance exits.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_every_page_with_1001() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let mut step4 = instance(&redis, "A").await;
    let token = log_in(step4.port, "alice").await.unwrap();
    let (mut first, _) = open_chat(step4.port, &token, None).await.unwrap();
    let (mut second, _) = open_chat(step4.port, &token, None).await.unwrap();
    step4.stop(Stop::Terminate).unwrap();
    for page in [&mut first, &mut second] {
        let (code, reason) = close_code(page, ARRIVES).await.unwrap();
        assert_eq!(code, 1001, "{reason}");
        println!("SIGTERM -> {code} {reason}");
    }
    let status = step4.exit_status(ARRIVES).await;
    assert!(
        status.is_some_and(|status| status.success()),
        "after SIGTERM: {status:?}; printed {:?}",
        step4.output.lines()
    );
}

/// `GET /healthz` answers 200 while Redis answers, and 503 once it is gone;
/// when Redis is back on its port, the instance serves again: 200, and a
/// login works.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_follows_redis() {
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let step4 = instance(&redis, "A").await;
    let answer = wire::get(step4.port, "/healthz").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.status_line);
    let redis_port = redis.port;
    drop(redis);
    let answer = wire::get(step4.port, "/healthz").await.unwrap();
    assert_eq!(answer.status, 503, "{}", answer.status_line);
    println!(
        "without Redis: {}: {}",
        answer.status_line,
        String::from_utf8_lossy(&answer.body).trim()
    );

    let program = find_redis().unwrap();
    let _redis = Redis::start_on(&program, redis_port).await.unwrap();
    let deadline = Instant::now() + ARRIVES;
    loop {
        let answer = wire::get(step4.port, "/healthz").await.unwrap();
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis is back, /healthz still says {}",
            answer.status_line
        );
        sleep(Duration::from_millis(100)).await;
    }
    log_in(step4.port, "alice").await.unwrap();
    println!("Redis back: /healthz 200, and a login works");
}

/// The page itself, in headless Chromium: two visitors log in on two
/// instances, each page names its instance and author, a line typed on one
/// appears on the other. Then the second instance stops (SIGTERM): its page
/// says it was closed with 1001 and reconnects once the instance is back,
/// with the line typed meanwhile, once.
#[tokio::test(flavor = "multi_thread")]
async fn two_pages_on_two_instances_chat_and_one_comes_back() {
    let Some(chromium) = tools::require_or_skip("Chromium", crate::browser::find()) else {
        return;
    };
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (chromium, a, b) = tokio::join!(
        crate::browser::Chromium::launch(&chromium),
        instance(&redis, "A"),
        instance(&redis, "B")
    );
    let (chromium, mut b) = (chromium.unwrap(), b);

    let mut pages = Vec::new();
    for (port, name, instance) in [(a.port, "alice", "A"), (b.port, "bob", "B")] {
        let page = chromium
            .open(&format!("http://localhost:{port}/"))
            .await
            .unwrap();
        // Once the page has loaded, the form is there.
        wait_for_text(&page, "#name", |_| true).await.unwrap();
        page.type_into("#name", name).await.unwrap();
        page.click("#login button").await.unwrap();
        let expected = format!("Connected to instance {instance} as {name}");
        let state = wait_for_text(&page, "#state", |text| text == expected)
            .await
            .unwrap();
        println!("{name}'s page: {state}");
        pages.push(page);
    }
    let (alice, bob) = (&pages[0], &pages[1]);
    alice.type_into("#text", "hello from A").await.unwrap();
    alice.click("#send button").await.unwrap();
    let line = wait_for_text(bob, "#log li", |text| text == "alice: hello from A")
        .await
        .unwrap();
    println!("bob's page on B shows: {line}");

    let b_port = b.port.to_string();
    b.stop(Stop::Terminate).unwrap();
    let state = wait_for_text(bob, "#state", |text| {
        text.contains("1001 server shutting down")
    })
    .await
    .unwrap();
    println!("bob's page after SIGTERM: {state}");
    assert!(b.exit_status(ARRIVES).await.is_some(), "B did not exit");
    // B waited for bob's page to leave the chat before it exited.
    wait_for_text(alice, "#log li", |text| text == "bob left")
        .await
        .unwrap();
    alice
        .type_into("#text", "while you were away")
        .await
        .unwrap();
    alice.click("#send button").await.unwrap();
    wait_for_text(alice, "#log li", |text| {
        text == "alice: while you were away"
    })
    .await
    .unwrap();

    let url = redis.url();
    let _b_again = Program::of("step4")
        .start(&[("REDIS_URL", &url), ("INSTANCE", "B"), ("PORT", &b_port)])
        .await
        .unwrap();
    let back = wait_for_text(bob, "#log li", |text| {
        text.starts_with("Reconnected to instance B")
    })
    .await
    .unwrap();
    println!("bob's page: {back}");
    let log = bob.texts("#log li").await.unwrap();
    let away = log
        .iter()
        .filter(|text| *text == "alice: while you were away")
        .count();
    assert_eq!(
        away, 1,
        "bob's page shows the line typed while it was away {away} times: {log:?}"
    );
    drop(a);
}

/// The step's nginx file, in front of two instances: the login and the
/// WebSockets go through it, new connections go to both instances in turn,
/// and a line sent through one reaches the other. When one instance stops
/// (SIGTERM), its page gets 1001, reconnects through nginx to the other
/// and gets what was said meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn the_steps_nginx_file_balances_two_instances() {
    let Some(nginx) = tools::require_or_skip("nginx", find_nginx()) else {
        return;
    };
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (a, mut b) = tokio::join!(instance(&redis, "A"), instance(&redis, "B"));
    let balancer = Balancer::start(&nginx, [a.port, b.port]).await.unwrap();
    let port = balancer.port;
    let token = log_in(port, "alice").await.unwrap();

    // Open pages until one is on each instance.
    let mut on = std::collections::HashMap::new();
    for _ in 0..6 {
        let (page, history) = open_chat(port, &token, None).await.unwrap();
        on.insert(history["instance"].as_str().unwrap().to_string(), page);
        if on.len() == 2 {
            break;
        }
    }
    assert_eq!(
        on.len(),
        2,
        "six connections through nginx all went to {:?}",
        on.keys()
    );
    let mut on_a = on.remove("A").unwrap();
    let mut on_b = on.remove("B").unwrap();
    say(&mut on_a, "through nginx").await.unwrap();
    until_chat(&mut on_b, "through nginx").await.unwrap();

    let last = until_chat(&mut on_a, "through nginx").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.stop(Stop::Terminate).unwrap();
    let (code, _) = close_code(&mut on_b, ARRIVES).await.unwrap();
    assert_eq!(code, 1001);
    b.exit_status(ARRIVES).await.unwrap();
    say(&mut on_a, "while B was away").await.unwrap();
    until_chat(&mut on_a, "while B was away").await.unwrap();
    // nginx finds B refusing connections and hands the page to A.
    let (_, history) = open_chat(port, &token, Some(&last)).await.unwrap();
    assert_eq!(history["instance"], "A", "{history}");
    let missed: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["type"] == "chat")
        .map(|entry| entry["text"].as_str().unwrap())
        .collect();
    assert_eq!(missed, ["while B was away"]);
    println!("through nginx on port {port}: B stopped, the page came back on A with {missed:?}");
}

/// The failover a learner runs: a page in headless Chromium, through the
/// step's nginx file, on one of two instances. That instance stops
/// (SIGTERM); the page shows 1001, reconnects through nginx, lands on the
/// other instance, and shows the line said meanwhile, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_behind_nginx_moves_to_the_other_instance_and_misses_nothing() {
    let Some(chromium) = tools::require_or_skip("Chromium", crate::browser::find()) else {
        return;
    };
    let Some(nginx) = tools::require_or_skip("nginx", find_nginx()) else {
        return;
    };
    let Some(redis) = redis_for_test().await else {
        return;
    };
    let (chromium, a, b) = tokio::join!(
        crate::browser::Chromium::launch(&chromium),
        instance(&redis, "A"),
        instance(&redis, "B")
    );
    let chromium = chromium.unwrap();
    let balancer = Balancer::start(&nginx, [a.port, b.port]).await.unwrap();
    let page = chromium
        .open(&format!("http://localhost:{}/", balancer.port))
        .await
        .unwrap();
    wait_for_text(&page, "#name", |_| true).await.unwrap();
    page.type_into("#name", "alice").await.unwrap();
    page.click("#login button").await.unwrap();
    let state = wait_for_text(&page, "#state", |text| {
        text.starts_with("Connected to instance")
    })
    .await
    .unwrap();
    println!("through nginx: {state}");
    let (mut first, mut other) = if state.contains("instance A ") {
        (a, b)
    } else {
        (b, a)
    };
    let other_name = if state.contains("instance A ") {
        "B"
    } else {
        "A"
    };

    first.stop(Stop::Terminate).unwrap();
    wait_for_text(&page, "#state", |text| {
        text.contains("1001 server shutting down")
    })
    .await
    .unwrap();
    assert!(
        first.exit_status(ARRIVES).await.is_some(),
        "the instance did not exit"
    );
    let bob = log_in(other.port, "bob").await.unwrap();
    let (mut on_other, _) = open_chat(other.port, &bob, None).await.unwrap();
    say(&mut on_other, "said while you moved").await.unwrap();
    until_chat(&mut on_other, "said while you moved")
        .await
        .unwrap();

    let expected = format!("Connected to instance {other_name} as alice");
    let state = wait_for_text(&page, "#state", |text| text == expected)
        .await
        .unwrap();
    let line = wait_for_text(&page, "#log li", |text| text == "bob: said while you moved")
        .await
        .unwrap();
    let log = page.texts("#log li").await.unwrap();
    let shown = log.iter().filter(|text| **text == line).count();
    assert_eq!(shown, 1, "the page shows the line {shown} times: {log:?}");
    println!("after SIGTERM: {state}; the page shows {line:?} once");
    let _ = other.stop(Stop::Terminate);
    let _ = other.exit_status(ARRIVES).await;
}
