//! Step 4 against hostile input: sessions that are forged or that Redis
//! has forgotten, a flood of logins, a JSON nesting bomb, and lines sent
//! far faster than the page reads. Each gets a clear answer, and the
//! instance goes on serving everyone else. And against crowds: 2,000 pages
//! opening at once, and a page that stops reading among many that read,
//! opened by hand as `cargo xtask load --step 4` opens them.

use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::load;
use crate::many_servers::Socket;
use crate::step4::{self, ARRIVES};
use crate::wire;

/// How many logins arrive at once in the flood.
const LOGINS_AT_ONCE: usize = 200;

/// How many lines the fast page sends without reading one answer.
const FLOOD_LINES: usize = 3000;

/// The next error the server sends, skipping everything else.
async fn next_error(socket: &mut Socket) -> anyhow::Result<String> {
    loop {
        let message = step4::next_json(socket).await?;
        if message["type"] == "error" {
            return Ok(message["message"].as_str().unwrap_or("").to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_gets_a_clear_answer_and_the_instance_serves_on() {
    let Some(redis) = step4::redis_for_test().await else {
        return;
    };
    let step4 = step4::instance(&redis, "A").await;
    let port = step4.port;

    // A token nobody was given, and one Redis has forgotten (as when it
    // expired): both refused before any 101, with the reason.
    let forged = step4::open_chat(port, "forged0123456789", None).await;
    let forged = forged.expect_err("a forged session got a WebSocket");
    assert!(format!("{forged:#}").contains("401"), "{forged:#}");
    let token = step4::log_in(port, "alice").await.unwrap();
    let forget = format!("DEL session:{token}\r\nQUIT\r\n");
    wire::exchange(redis.port, forget.as_bytes()).await.unwrap();
    let expired = step4::open_chat(port, &token, None).await;
    let expired = expired.expect_err("a forgotten session got a WebSocket");
    assert!(format!("{expired:#}").contains("401"), "{expired:#}");
    println!("forged and forgotten sessions: {expired:#}");

    // A flood of logins at once: every one is answered.
    let started = Instant::now();
    let logins = (0..LOGINS_AT_ONCE).map(|number| {
        let name = format!("flood{number}");
        async move { step4::log_in(port, &name).await }
    });
    let answered = futures_util::future::join_all(logins).await;
    let failed: Vec<String> = answered
        .iter()
        .filter_map(|login| login.as_ref().err().map(|error| format!("{error:#}")))
        .collect();
    assert!(failed.is_empty(), "logins in the flood failed: {failed:?}");
    println!(
        "{LOGINS_AT_ONCE} logins at once: all answered in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // A nesting bomb within the size limit: an error that says what.
    let token = step4::log_in(port, "bob").await.unwrap();
    let (mut page, _) = step4::open_chat(port, &token, None).await.unwrap();
    let bomb = "[".repeat(10_000);
    page.send(Message::text(bomb)).await.unwrap();
    let said = next_error(&mut page).await.unwrap();
    assert!(said.contains("not JSON"), "{said}");
    println!("10,000 nested brackets -> error: {said}");
    let wrong_id = json!({"type": "chat", "text": "hi", "client_id": "no spaces here"});
    page.send(Message::text(wrong_id.to_string()))
        .await
        .unwrap();
    let said = next_error(&mut page).await.unwrap();
    assert!(said.contains("client_id"), "{said}");

    // Lines far faster than the page reads: the page is closed as too
    // slow or every line is answered; either way the others are served.
    let (mut fast, _) = step4::open_chat(port, &token, None).await.unwrap();
    let flood = async {
        for number in 0..FLOOD_LINES {
            let line = json!({"type": "chat", "text": format!("fast {number}"),
                "client_id": format!("fast-{number}")});
            if fast.send(Message::text(line.to_string())).await.is_err() {
                break;
            }
        }
    };
    let _ = timeout(ARRIVES * 3, flood).await;
    let health = wire::get(port, "/healthz").await.unwrap();
    assert_eq!(health.status, 200, "{}", health.status_line);
    let other = step4::log_in(port, "carol").await.unwrap();
    let (mut calm, _) = step4::open_chat(port, &other, None).await.unwrap();
    step4::say(&mut calm, "still served").await.unwrap();
    step4::until_chat(&mut calm, "still served").await.unwrap();
    // Now it reads: the answer to its last line, or the close frame that
    // says it was too slow.
    let last = format!("fast-{}", FLOOD_LINES - 1);
    let outcome = loop {
        match wire::next_message(&mut fast, ARRIVES).await {
            Ok(Message::Text(text)) => {
                let message: serde_json::Value = serde_json::from_str(&text).unwrap();
                if message["type"] == "sent" && message["client_id"] == last.as_str() {
                    break format!("every line answered, the last as entry {}", message["id"]);
                }
            }
            Ok(Message::Close(frame)) => break format!("closed: {frame:?}"),
            Ok(_) => {}
            Err(error) => panic!("neither its last answer nor a close frame: {error:#}"),
        }
    };
    println!("{FLOOD_LINES} lines sent unread -> {outcome}; another page is served");
    let deadline = Instant::now() + ARRIVES;
    while wire::get(port, "/healthz").await.unwrap().status != 200 {
        assert!(Instant::now() < deadline, "the instance stopped serving");
        sleep(Duration::from_millis(100)).await;
    }
}

/// How many pages open their chats at the same moment.
const PAGES_AT_ONCE: usize = 2000;

/// How long each of them may take to hear the line: before it, each hears
/// that the others joined, millions of messages in all for the two
/// instances of a debug build on a busy machine.
const CROWD_HEARS: Duration = Duration::from_secs(240);

/// 2,000 pages with sessions of their own open their chats at once, half
/// on each instance: every one is let in, and every one hears the one
/// line that is sent then exactly once. Then they all leave, and both
/// instances serve on.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_pages_at_once_each_hear_a_line_once() {
    let Some(redis) = step4::redis_for_test().await else {
        return;
    };
    crate::crowd::ensure_open_files(PAGES_AT_ONCE as u64 * 2 + 256).unwrap();
    let (a, b) = tokio::join!(step4::instance(&redis, "A"), step4::instance(&redis, "B"));
    let ports = [a.port, b.port];
    // The logins first, a few at a time: they are not what this is about.
    let tokens: Vec<String> =
        stream::iter(0..PAGES_AT_ONCE)
            .map(|number| async move {
                step4::log_in(ports[number % 2], &format!("crowd{number}")).await
            })
            .buffered(64)
            .map(|token| token.expect("a login"))
            .collect()
            .await;

    let started = Instant::now();
    let opening = tokens
        .iter()
        .enumerate()
        .map(|(number, token)| load::open_page(ports[number % 2], token, None));
    let opened = futures_util::future::join_all(opening).await;
    let refused: Vec<String> = opened
        .iter()
        .enumerate()
        .filter_map(|(number, page)| {
            page.as_ref()
                .err()
                .map(|error| format!("{number}: {error:#}"))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {PAGES_AT_ONCE} pages were not let in, such as {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
    println!(
        "{PAGES_AT_ONCE} pages opened at once in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let arrivals = load::Arrivals::new();
    let (leave, told_to_leave) = watch::channel(false);
    let mut reading = JoinSet::new();
    for (number, page) in opened.into_iter().enumerate() {
        let page = page.unwrap();
        reading.spawn(load::listen(
            page,
            number as u32,
            arrivals.clone(),
            told_to_leave.clone(),
        ));
    }
    let token = step4::log_in(a.port, "sender").await.unwrap();
    let (mut sender, _) = step4::open_chat(a.port, &token, None).await.unwrap();
    let line = load::line_text(0, 0);
    step4::say(&mut sender, &line).await.unwrap();
    let deadline = Instant::now() + CROWD_HEARS;
    while arrivals.count() < PAGES_AT_ONCE && Instant::now() < deadline {
        sleep(Duration::from_millis(100)).await;
    }
    let mut heard: Vec<u32> = arrivals.take().iter().map(|heard| heard.page).collect();
    heard.sort_unstable();
    let all = heard.len();
    heard.dedup();
    assert_eq!(all - heard.len(), 0, "pages heard the line twice");
    assert_eq!(
        heard.len(),
        PAGES_AT_ONCE,
        "only {} of {PAGES_AT_ONCE} pages heard the line within {CROWD_HEARS:?}",
        heard.len()
    );
    println!(
        "every one of the {PAGES_AT_ONCE} heard {line:?} once, {:.1} s after they opened",
        started.elapsed().as_secs_f64()
    );

    leave.send_replace(true);
    let mut endings = Vec::new();
    while let Some(ending) = reading.join_next().await {
        endings.push(ending.unwrap());
    }
    let left = endings
        .iter()
        .filter(|ending| **ending == load::Ending::Left)
        .count();
    let others: Vec<_> = endings
        .iter()
        .filter(|ending| **ending != load::Ending::Left)
        .take(5)
        .collect();
    assert_eq!(
        left, PAGES_AT_ONCE,
        "not every page left politely: {others:?}"
    );
    for (instance, port) in ["A", "B"].iter().zip(ports) {
        let token = step4::log_in(port, "after").await.unwrap();
        let (mut page, _) = step4::open_chat(port, &token, None).await.unwrap();
        let text = format!("still served on {instance}");
        step4::say(&mut page, &text).await.unwrap();
        step4::until_chat(&mut page, &text).await.unwrap();
    }
    println!("all left; A and B serve on");
}

/// How many pages read while one does not.
const READERS: usize = 200;

/// The lines sent while the page does not read, and their length: the
/// 256 messages it may leave unread and what the system holds for it take
/// a few hundred.
const SLOW_LINES: u32 = 600;
const SLOW_LINE_LENGTH: usize = 1000;

/// One page that stops reading, among 200 that read, on two instances:
/// its instance closes it with 1008 and the reason once 256 messages wait,
/// within 600 lines of 1,000 characters (the system holds only a few
/// dozen of them for it), and every reader hears every line exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_stops_reading_among_many_is_closed_and_the_others_hear_everything() {
    let Some(redis) = step4::redis_for_test().await else {
        return;
    };
    let (a, b) = tokio::join!(step4::instance(&redis, "A"), step4::instance(&redis, "B"));
    let ports = [a.port, b.port];
    let arrivals = load::Arrivals::new();
    let (leave, told_to_leave) = watch::channel(false);
    let mut reading = JoinSet::new();
    for number in 0..READERS {
        let port = ports[number % 2];
        let token = step4::log_in(port, &format!("reader{number}"))
            .await
            .unwrap();
        let page = load::open_page(port, &token, None).await.unwrap();
        reading.spawn(load::listen(
            page,
            number as u32,
            arrivals.clone(),
            told_to_leave.clone(),
        ));
    }
    let token = step4::log_in(a.port, "slow").await.unwrap();
    let slow = load::open_page(a.port, &token, Some(4096)).await.unwrap();
    let (read_again, told_to_read) = watch::channel(false);
    let slow = tokio::spawn(load::stop_reading(slow, told_to_read));

    let token = step4::log_in(a.port, "writer").await.unwrap();
    let (writer, _) = step4::open_chat(a.port, &token, None).await.unwrap();
    let (mut writer, mut echoes) = writer.split();
    // The writer reads what comes back, or it would be a slow page too.
    tokio::spawn(async move { while let Some(Ok(_)) = echoes.next().await {} });
    let from = a.output.len();
    for number in 0..SLOW_LINES {
        let line = json!({"type": "chat", "text": load::line_text(number, SLOW_LINE_LENGTH)});
        writer.send(Message::text(line.to_string())).await.unwrap();
        // A steady pace, so that the readers are never the slow ones.
        sleep(Duration::from_millis(5)).await;
    }
    let closed = a
        .output
        .wait_for(from, ARRIVES, |line| {
            line.starts_with("Too slow: slow's page")
        })
        .await;
    read_again.send_replace(true);
    let closed = closed.unwrap_or_else(|| {
        panic!("the page that does not read was still open after {SLOW_LINES} lines of {SLOW_LINE_LENGTH} characters")
    });
    println!("{closed}");
    let (code, reason) = slow
        .await
        .unwrap()
        .expect("a close frame for the slow page");
    assert_eq!(
        (code, reason.as_str()),
        (1008, "too slow: 256 messages were waiting unread")
    );

    let expected = READERS * SLOW_LINES as usize;
    let deadline = Instant::now() + ARRIVES;
    while arrivals.count() < expected && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
    }
    let mut heard: Vec<(u32, u32)> = arrivals
        .take()
        .iter()
        .map(|heard| (heard.line, heard.page))
        .collect();
    heard.sort_unstable();
    let all = heard.len();
    heard.dedup();
    assert_eq!(all - heard.len(), 0, "lines heard twice");
    assert_eq!(heard.len(), expected, "the readers missed lines");
    println!(
        "the slow page got {code} {reason}; {READERS} readers heard all {SLOW_LINES} lines once"
    );
    leave.send_replace(true);
    while reading.join_next().await.is_some() {}
}
