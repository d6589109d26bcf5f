//! Step 4, many servers sharing one chat through Redis: a `redis-server`
//! of our own on a free port, two instances of step 4 pointed at it, and
//! clients that log in and speak the chat's JSON as the page does. Where
//! nginx and Chromium are installed, two real pages through the step's
//! nginx file, on different instances, talk to each other.
//!
//! Without `redis-server` the group is skipped with the line that says how
//! to install it (a failure with `REQUIRE_TOOLS=1`), as the browser checks
//! are without Chromium.

use anyhow::{Context, anyhow, bail, ensure};
use futures_util::SinkExt;
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use super::Sink;
use crate::browser::{self, Chromium};
use crate::many_servers::{
    ARRIVES, Balancer, Redis, close_code, find_nginx, find_redis, log_in, next_json, open_chat,
    open_chat_over, say, start_instance, until_chat, upgrade_request, wait_for_text,
};
use crate::steps::{Running, Stop};
use crate::{tools, wire};

const SUBJECT: &str = "step4";

/// Records a missing program as a skip, or as a failure with `REQUIRE_TOOLS=1`.
fn missing(sink: &Sink, why: String) {
    if tools::required() {
        let why = format!("{why} ({} is set)", tools::REQUIRE_TOOLS);
        sink.record(SUBJECT, Err(anyhow!(why)), None);
    } else {
        sink.skip(SUBJECT, why);
    }
}

/// The whole group; `browser` says whether pages in Chromium are opened too.
pub async fn run(sink: Sink, browser: bool) {
    let program = match find_redis() {
        Ok(program) => program,
        Err(why) => return missing(&sink, why),
    };
    if let Err(why) = crate::many_servers::build_step4() {
        return sink.record(SUBJECT, Err(anyhow!(why)), None);
    }
    let redis = match Redis::start(&program).await {
        Ok(redis) => redis,
        Err(error) => return sink.record(SUBJECT, Err(error), None),
    };
    let (a, b) = tokio::join!(start_instance(&redis, "A"), start_instance(&redis, "B"));
    let (a, mut b): (Running, Running) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(error), _) | (_, Err(error)) => return sink.record(SUBJECT, Err(error), None),
    };
    let (on_a, on_b) = (Some(&a.output), Some(&b.output));
    sink.record(SUBJECT, login_required(a.port).await, on_a);
    sink.record(SUBJECT, line_crosses(a.port, b.port).await, on_b);
    sink.record(SUBJECT, replay_is_exact(a.port, b.port).await, on_a);
    sink.record(SUBJECT, bad_messages_answered(a.port).await, on_a);
    sink.record(SUBJECT, slow_reader_closed(&a).await, on_a);
    match (browser::find(), find_nginx()) {
        _ if !browser => {}
        (Ok(chromium), Ok(nginx)) => {
            let result = pages_through_nginx(&chromium, &nginx, [a.port, b.port]).await;
            sink.record(SUBJECT, result, on_a);
        }
        (Err(why), _) | (_, Err(why)) => missing(&sink, format!("two pages through nginx: {why}")),
    }
    match find_nginx() {
        Ok(nginx) => {
            let result = failover_through_nginx(&nginx, &a, &mut b).await;
            sink.record(SUBJECT, result, Some(&b.output));
        }
        Err(why) => missing(&sink, format!("a failover through nginx: {why}")),
    }
    let mut a = a;
    let result = sigterm_says_going_away(&mut a).await;
    sink.record(SUBJECT, result, Some(&a.output));
}

/// The upgrade needs a session and our own page: 401 before any 101
/// without a session cookie, 403 for another site's page even with a valid
/// one, and 101 with both.
pub async fn login_required(port: u16) -> anyhow::Result<String> {
    let token = log_in(port, "alice").await?;
    let ours = format!("Origin: http://localhost:{port}\r\n");
    let cases = [
        ("no session cookie", ours.clone(), 401),
        (
            "another site's page with a valid session",
            format!("Origin: http://evil.example\r\nCookie: session={token}\r\n"),
            403,
        ),
        (
            "our page with a session",
            format!("{ours}Cookie: session={token}\r\n"),
            101,
        ),
    ];
    let mut seen = Vec::new();
    for (case, headers, expected) in cases {
        let answer = wire::ask(port, upgrade_request(port, &headers).as_bytes()).await?;
        ensure!(
            answer.status == expected,
            "{case}: the upgrade got {:?}, not {expected}",
            answer.status_line
        );
        seen.push(format!("{case}: {expected}"));
    }
    Ok(format!("the upgrade on /chat: {}", seen.join("; ")))
}

/// A line sent on a page of instance A reaches a page of instance B, with
/// its author.
pub async fn line_crosses(a: u16, b: u16) -> anyhow::Result<String> {
    let alice = log_in(a, "alice").await?;
    let bob = log_in(b, "bob").await?;
    let (mut on_a, _) = open_chat(a, &alice, None).await?;
    let (mut on_b, history) = open_chat(b, &bob, None).await?;
    ensure!(
        history["instance"] == "B",
        "the page on B was told it is on instance {}",
        history["instance"]
    );
    say(&mut on_a, "hello from A").await?;
    let arrived = until_chat(&mut on_b, "hello from A")
        .await
        .context("a line sent on a page of instance A did not reach a page of B")?;
    ensure!(
        arrived["author"] == "alice",
        "the line arrived on B without its author: {arrived}"
    );
    Ok(format!("a line sent on A arrived on B: {arrived}"))
}

/// The chat lines among a history's entries.
fn chat_texts(history: &Value) -> Vec<String> {
    history["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["type"] == "chat")
        .filter_map(|entry| entry["text"].as_str().map(str::to_string))
        .collect()
}

/// A page that reconnects with `?after=ID` (the id of the last line it
/// showed) gets exactly the lines said while it was away, once each and in
/// order, then the live chat.
pub async fn replay_is_exact(a: u16, b: u16) -> anyhow::Result<String> {
    let alice = log_in(a, "alice").await?;
    let bob = log_in(b, "bob").await?;
    let (mut page, _) = open_chat(a, &alice, None).await?;
    say(&mut page, "before the break").await?;
    let seen = until_chat(&mut page, "before the break").await?;
    let last = seen["id"]
        .as_str()
        .ok_or_else(|| anyhow!("a chat line without an id: {seen}"))?
        .to_string();
    drop(page);

    let (mut other, _) = open_chat(b, &bob, None).await?;
    let missed = ["missed one", "missed two"];
    for text in missed {
        say(&mut other, text).await?;
        until_chat(&mut other, text).await?;
    }
    let (mut page, history) = open_chat(a, &alice, Some(&last)).await?;
    let replayed = chat_texts(&history);
    ensure!(
        replayed == missed,
        "back with ?after={last}, the page got the chat lines {replayed:?}, not {missed:?}"
    );
    say(&mut other, "live again").await?;
    until_chat(&mut page, "live again")
        .await
        .context("after its history, the page that came back did not get the live chat")?;
    Ok(format!(
        "back with ?after=ID, the page got exactly {replayed:?}, then the live chat"
    ))
}

/// Bad JSON and an unknown `type` each get an error message that says
/// why, and the page stays connected.
pub async fn bad_messages_answered(port: u16) -> anyhow::Result<String> {
    let token = log_in(port, "alice").await?;
    let (mut page, _) = open_chat(port, &token, None).await?;
    let mut seen = Vec::new();
    for (sent, expected) in [
        ("{not json", "not JSON"),
        (r#"{"type":"shout","text":"hi"}"#, "unknown type `shout`"),
    ] {
        page.send(Message::text(sent)).await?;
        let answer = loop {
            let message = next_json(&mut page).await?;
            if message["type"] == "error" {
                break message;
            }
            ensure!(
                message["type"] != "chat",
                "{sent} went into the chat as a line: {message}"
            );
        };
        let said = answer["message"].as_str().unwrap_or_default();
        ensure!(
            said.contains(expected),
            "{sent} got the error {said:?}, which does not say {expected:?}"
        );
        seen.push(format!("{sent} -> {said:?}"));
    }
    say(&mut page, "still here").await?;
    until_chat(&mut page, "still here").await?;
    Ok(format!("{}; the page stays connected", seen.join("; ")))
}

/// A page that stops reading is closed with 1008 once its queue is full,
/// while a page that reads gets every line meanwhile.
pub async fn slow_reader_closed(step4: &Running) -> anyhow::Result<String> {
    const MOST_LINES: usize = 5000;
    let port = step4.port;
    let slow = log_in(port, "slow").await?;
    let reader = log_in(port, "reader").await?;
    let writer = log_in(port, "writer").await?;
    // A small receive buffer: the system holds little for the page that
    // does not read, so the server's queue fills sooner.
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await?;
    let (mut slow_page, _) = open_chat_over(stream, port, &slow, None).await?;
    let (mut reading_page, _) = open_chat(port, &reader, None).await?;
    let (mut writing_page, _) = open_chat(port, &writer, None).await?;
    let long = "x".repeat(1990);
    let mut sent = 0;
    loop {
        let text = format!("{sent:05} {long}");
        say(&mut writing_page, &text).await?;
        until_chat(&mut writing_page, &text).await?;
        if let Err(error) = until_chat(&mut reading_page, &text).await {
            bail!("the page that reads missed line {sent} while another did not read: {error:#}");
        }
        sent += 1;
        let told = step4
            .output
            .lines()
            .iter()
            .any(|line| line.starts_with("Too slow: slow's page"));
        if told {
            break;
        }
        ensure!(
            sent < MOST_LINES,
            "the page that does not read was still served after {sent} lines of 2 KB"
        );
    }
    say(&mut writing_page, "after").await?;
    until_chat(&mut reading_page, "after").await?;
    let (code, reason) = close_code(&mut slow_page, ARRIVES).await?;
    ensure!(
        code == 1008,
        "the page that did not read was closed with {code} ({reason:?}), not 1008"
    );
    Ok(format!(
        "after {sent} lines of 2 KB the page that did not read got {code} {reason:?}; the page that reads got every line"
    ))
}

/// Two pages in headless Chromium, through the step's nginx file, on
/// different instances: a line typed on one appears on the other.
pub async fn pages_through_nginx(
    chromium: &std::path::Path,
    nginx: &std::path::Path,
    instances: [u16; 2],
) -> anyhow::Result<String> {
    let chromium = Chromium::launch(chromium).await?;
    let balancer = Balancer::start(nginx, instances).await?;
    let url = format!("http://localhost:{}/", balancer.port);
    let mut pages = Vec::new();
    let mut instances_seen: Vec<String> = Vec::new();
    // nginx hands each request to the next instance in turn, and a page
    // makes a fixed number of them; a page that lands where the first did
    // is opened again after one request more.
    for (name, tries) in [("alice", 1), ("bob", 6)] {
        for _ in 0..tries {
            if !pages.is_empty() {
                wire::get(balancer.port, "/healthz").await?;
            }
            let page = chromium.open(&url).await?;
            wait_for_text(&page, "#name", |_| true).await?;
            page.type_into("#name", name).await?;
            page.click("#login button").await?;
            let state = wait_for_text(&page, "#state", |text| {
                text.starts_with("Connected to instance")
            })
            .await
            .with_context(|| format!("{name}'s page through nginx did not connect"))?;
            let instance = state
                .trim_start_matches("Connected to instance ")
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string();
            if !instances_seen.contains(&instance) {
                instances_seen.push(instance);
                pages.push(page);
                break;
            }
        }
    }
    let [alice, bob] = pages.as_slice() else {
        bail!("six pages through nginx all landed on instance {instances_seen:?}");
    };
    alice.type_into("#text", "hello through nginx").await?;
    alice.click("#send button").await?;
    let line = wait_for_text(bob, "#log li", |text| text == "alice: hello through nginx").await?;
    bob.type_into("#text", "hello back").await?;
    bob.click("#send button").await?;
    wait_for_text(alice, "#log li", |text| text == "bob: hello back").await?;
    Ok(format!(
        "through nginx, pages on instances {} and {}: {line:?} crossed, and the answer came back",
        instances_seen[0], instances_seen[1]
    ))
}

/// Through the step's nginx file, a page on instance B; SIGTERM on B
/// closes it with 1001; a line is said on A meanwhile; the page comes back
/// through nginx with `?after=` its last id, lands on A, and gets exactly
/// that line. This stops B.
pub async fn failover_through_nginx(
    nginx: &std::path::Path,
    a: &Running,
    b: &mut Running,
) -> anyhow::Result<String> {
    let balancer = Balancer::start(nginx, [a.port, b.port]).await?;
    let port = balancer.port;
    let token = log_in(port, "carol").await?;
    let mut on_b = None;
    for _ in 0..6 {
        let (page, history) = open_chat(port, &token, None).await?;
        if history["instance"] == "B" {
            on_b = Some(page);
            break;
        }
    }
    let Some(mut page) = on_b else {
        bail!("six connections through nginx never reached instance B");
    };
    let alice = log_in(a.port, "alice").await?;
    let (mut on_a, _) = open_chat(a.port, &alice, None).await?;
    say(&mut page, "before the failover").await?;
    let seen = until_chat(&mut page, "before the failover").await?;
    let last = seen["id"].as_str().unwrap_or_default().to_string();

    b.stop(Stop::Terminate)?;
    let (code, reason) = close_code(&mut page, ARRIVES).await?;
    ensure!(
        code == 1001,
        "after SIGTERM on its instance the page got {code} ({reason:?}), not 1001"
    );
    drop(page);
    ensure!(
        b.exit_status(ARRIVES).await.is_some(),
        "instance B did not exit after SIGTERM"
    );
    say(&mut on_a, "said during the failover").await?;
    until_chat(&mut on_a, "said during the failover").await?;
    let (_, history) = open_chat(port, &token, Some(&last))
        .await
        .context("the page could not come back through nginx with B stopped")?;
    let replayed = chat_texts(&history);
    ensure!(
        history["instance"] == "A" && replayed == ["said during the failover"],
        "back through nginx, the page is on instance {} with the chat lines {replayed:?}, \
         not on A with [\"said during the failover\"]",
        history["instance"]
    );
    Ok(format!(
        "SIGTERM on B: its page got {code}, came back through nginx on A with exactly {replayed:?}"
    ))
}

/// SIGTERM closes the instance's pages with 1001 (going away), and it
/// exits with status 0. This stops the instance.
pub async fn sigterm_says_going_away(step4: &mut Running) -> anyhow::Result<String> {
    let token = log_in(step4.port, "alice").await?;
    let (mut page, _) = open_chat(step4.port, &token, None).await?;
    step4.stop(Stop::Terminate)?;
    let (code, reason) = close_code(&mut page, ARRIVES).await?;
    ensure!(
        code == 1001,
        "after SIGTERM the page got close code {code} ({reason:?}), not 1001"
    );
    drop(page);
    let status = step4.exit_status(ARRIVES).await;
    ensure!(
        status.is_some_and(|status| status.success()),
        "after SIGTERM the instance exited with {status:?}, not 0"
    );
    Ok(format!("SIGTERM: the page got {code} {reason:?}, exit 0"))
}
