//! Tests of the checks in `seen_by_page`. Each check passes on the real
//! steps and fails on the claims the walkthroughs used to make: that the
//! page from disk works against step 3 (it does against step 1), that a
//! bare `close()` gives 1000, and, for the keep-alive line, against a
//! server that sends none.

use super::*;
use crate::browser;
use crate::checks::assert_fails;
use crate::copies::{self, Change};
use crate::steps;
use crate::tools;

/// A running browser, or `None` when the test is skipped for want of
/// one (see `tools::require_or_skip`).
async fn chromium() -> Option<Chromium> {
    let program = tools::require_or_skip("Chromium", browser::find())?;
    Some(Chromium::launch(&program).await.expect("Chromium starts"))
}

#[tokio::test(flavor = "multi_thread")]
async fn step3_refuses_the_page_from_disk_and_from_another_origin_but_step1_does_not() {
    steps::build().unwrap();
    let (chromium, step1, step3, other) = tokio::join!(
        chromium(),
        Running::start("step1"),
        Running::start("step3"),
        Running::start("step3"),
    );
    let Some(chromium) = chromium else {
        return;
    };
    let (step1, step3, other) = (step1.unwrap(), step3.unwrap(), other.unwrap());
    let other_origin = format!("http://localhost:{}", other.port);
    let disk_to_step3 = page_from_disk(step3.port);
    let other_to_step3 = page_of_other_origin(other.port, step3.port);
    let disk_to_step1 = page_from_disk(step1.port);
    let other_to_step1 = page_of_other_origin(other.port, step1.port);
    let (old_claim, from_disk, from_other, disk_on_step1, other_on_step1) = tokio::join!(
        // The walkthroughs once said the page from disk works against
        // step 3 as it does against step 1.
        step2_page_talks(&chromium, &disk_to_step3, &step3.output),
        refused_page(&chromium, &disk_to_step3, &step3.output, "null"),
        refused_page(&chromium, &other_to_step3, &step3.output, &other_origin),
        refused_page(&chromium, &disk_to_step1, &step1.output, "null"),
        refused_page(&chromium, &other_to_step1, &step1.output, &other_origin),
    );
    assert_fails(
        old_claim,
        &["the console did not show \"Received: Hello, WebSocket!\""],
    );
    from_disk.unwrap();
    from_other.unwrap();
    assert_fails(
        disk_on_step1,
        &["the server printed no `GET / -> 403 Forbidden` line"],
    );
    assert_fails(
        other_on_step1,
        &["the server printed no `GET / -> 403 Forbidden` line"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_close_reaches_the_page_as_1005_and_close_1000_as_1000() {
    steps::build().unwrap();
    let (chromium, step1) = tokio::join!(chromium(), Running::start("step1"));
    let Some(chromium) = chromium else {
        return;
    };
    let step1 = step1.unwrap();
    let url = page_from_disk(step1.port);
    let output = &step1.output;
    let (bare, normal, old_claim) = tokio::join!(
        page_close_code(&chromium, &url, output, "socket.close()", 1005),
        page_close_code(&chromium, &url, output, "socket.close(1000)", 1000),
        page_close_code(&chromium, &url, output, "socket.close()", 1000),
    );
    bare.unwrap();
    normal.unwrap();
    assert_fails(
        old_claim,
        &["shows \"Closed: code 1005\", not \"Closed: code 1000\""],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_with_nothing_listening_shows_an_error_then_1006_but_not_with_step1() {
    steps::build().unwrap();
    let (chromium, step1) = tokio::join!(chromium(), Running::start("step1"));
    let Some(chromium) = chromium else {
        return;
    };
    let step1 = step1.unwrap();
    let live = page_from_disk(step1.port);
    let (nobody, somebody) = tokio::join!(
        nothing_listening(&chromium),
        cannot_connect(&chromium, &live, REFUSED_CONNECTION),
    );
    nobody.unwrap();
    assert_fails(somebody, &["the page did not close"]);
}

/// On one loopback address only, step 1 is found by the browser, while
/// a program that tries only the other address is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_browser_finds_a_server_on_one_loopback_address_where_other_programs_may_not() {
    steps::build().unwrap();
    let Some(chromium) = chromium().await else {
        return;
    };
    for (host, other) in [("127.0.0.1", "::1"), ("::1", "127.0.0.1")] {
        let found = found_on_one_address(&chromium, host).await;
        found.unwrap_or_else(|problem| panic!("HOST={host}: {problem:#}"));
        let server = Running::start_with("step1", &[("HOST", host)])
            .await
            .unwrap();
        let other: std::net::IpAddr = other.parse().unwrap();
        let direct = tokio::net::TcpStream::connect((other, server.port)).await;
        assert!(
            direct.is_err(),
            "with HOST={host}, a connection to {other} port {} was accepted",
            server.port
        );
    }
}

/// Step 3 with its routes the other way round, `page.or(websocket)`:
/// the page's own WebSocket gets the page with 200, and the console
/// says `Unexpected response code: 200`. The real step 3, whose
/// WebSocket route comes first, does not fail so.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_page_route_first_the_upgrade_gets_the_page_with_200() {
    steps::build().unwrap();
    // As rustfmt lays out the chain of routes in `fn routes`.
    let websocket_first = ".or(websocket)\n        .or(page)";
    let page_first = ".or(page)\n        .or(websocket)";
    let file = step3_file_containing(websocket_first);
    let changes = [Change::replace(&file, websocket_first, page_first)];
    let (chromium, program, real) = tokio::join!(
        chromium(),
        copies::build("step3", "page-route-first", &changes),
        Running::start("step3"),
    );
    let Some(chromium) = chromium else {
        return;
    };
    let (program, real) = (program.unwrap(), real.unwrap());
    let changed = program.start(&[]).await.unwrap();
    let (page_first, websocket_first) = (page_url(changed.port), page_url(real.port));
    let (on_changed, on_real, old_claim) = tokio::join!(
        cannot_connect(&chromium, &page_first, HANDSHAKE_200),
        cannot_connect(&chromium, &websocket_first, HANDSHAKE_200),
        // The walkthroughs once said the order does not matter: then
        // the changed copy would talk as cleanly as step 3 does.
        super::super::step3_page_talks_cleanly(&chromium, &page_first, &changed.output),
    );
    on_changed.unwrap();
    assert_fails(on_real, &["the page did not close"]);
    assert_fails(old_claim, &["the console did not show"]);
}

/// The step 3 source file that holds `text`, relative to the workspace.
fn step3_file_containing(text: &str) -> String {
    copies::source_file_containing("step3", text).unwrap()
}

/// Over ten seconds: runs side by side with the other slow tests.
#[tokio::test(flavor = "multi_thread")]
async fn step3_prints_a_line_when_the_browsers_idle_connection_ends() {
    steps::build().unwrap();
    let (chromium, step1, step3) =
        tokio::join!(chromium(), Running::start("step1"), Running::start("step3"));
    let Some(chromium) = chromium else {
        return;
    };
    let (step1, step3) = (step1.unwrap(), step3.unwrap());
    let (served, from_disk) = (page_url(step3.port), page_from_disk(step1.port));
    // Step 1's page from disk keeps no HTTP connection open, so step 1
    // prints no such line.
    let (on_step3, on_step1) = tokio::join!(
        idle_keep_alive_line(&chromium, &served, &step3.output),
        idle_keep_alive_line(&chromium, &from_disk, &step1.output),
    );
    on_step3.unwrap();
    assert_fails(on_step1, &["no line ending in"]);
}

/// What chapter 4 says of Chromium, against a server that answers every
/// upgrade with a bare 101 (no subprotocol, no extension) and the
/// greeting: its upgrades offer `permessage-deflate`, and one that
/// offers the subprotocol `chat` and gets no subprotocol back fails
/// with an error and 1006, the console naming the missing header. This
/// is the 101 the steps gave before they refused such upgrades.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_offers_compression_and_fails_a_101_without_its_subprotocol() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

    let Some(chromium) = chromium().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let heard = heard.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0; 4096];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let key = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| value.trim().to_string())
                    })
                    .unwrap_or_default();
                heard.lock().unwrap().push(head);
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    derive_accept_key(key.as_bytes())
                );
                let mut bytes = answer.into_bytes();
                // The greeting as one text frame, as the steps send it.
                bytes.extend_from_slice(b"\x81\x11Hello, WebSocket!");
                let _ = stream.write_all(&bytes).await;
                while matches!(stream.read(&mut buffer).await, Ok(1..)) {}
            });
        }
    });

    let mut page = chromium.open(&page_from_disk(port)).await.unwrap();
    let greeted = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            seen.console_has("Received: Hello, WebSocket!")
        })
        .await;
    assert!(
        greeted,
        "the page was not greeted; {}",
        describe(&page.seen)
    );
    page.evaluate(OFFERS_CHAT).await.unwrap();
    let closed = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            seen.console
                .iter()
                .any(|line| line.text.starts_with("offering chat: closed"))
        })
        .await;
    let seen = &page.seen;
    assert!(
        closed && seen.console_has("offering chat: error"),
        "the WebSocket offering chat did not fail; {}",
        describe(seen)
    );
    assert!(
        seen.console_has("offering chat: closed 1006"),
        "the WebSocket offering chat did not close with 1006; {}",
        describe(seen)
    );
    let missing = "Sent non-empty 'Sec-WebSocket-Protocol' header but no response was received";
    assert!(
        seen.console.iter().any(|line| line.text.contains(missing)),
        "the console does not say {missing:?}; {}",
        describe(seen)
    );
    let requests = requests.lock().unwrap();
    let has = |request: &String, header: &str| {
        request
            .lines()
            .any(|line| line.to_ascii_lowercase().starts_with(header))
    };
    assert!(
        requests.len() == 2
            && requests
                .iter()
                .all(|request| has(request, "sec-websocket-extensions: permessage-deflate"))
            && has(&requests[1], "sec-websocket-protocol: chat")
            && !has(&requests[0], "sec-websocket-protocol"),
        "Chromium's upgrades were not as chapter 4 says: {requests:#?}"
    );
}
