//! Step 4 against hostile input: sessions that are forged or that Redis
//! has forgotten, a flood of logins, a JSON nesting bomb, and lines sent
//! far faster than the page reads. Each gets a clear answer, and the
//! instance goes on serving everyone else.

use futures_util::SinkExt;
use serde_json::json;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

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
        sleep(std::time::Duration::from_millis(100)).await;
    }
}
