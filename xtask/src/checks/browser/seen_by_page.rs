//! What a page sees when its WebSocket does not simply work: refused by
//! step 3's Origin policy, nothing listening, closed by the page's own
//! script, a server on one loopback address only; and what step 3 prints
//! when the browser's idle HTTP connection times out. The walkthroughs state
//! each of these as fact (chapters 1, 3, 4 and 5); these checks keep them
//! true. Their own tests are in `seen_by_page/tests.rs`.

#[cfg(test)]
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use super::{
    PAGE_TIMEOUT, describe, hears_the_greeting, page_from_disk, page_url, step2_page_talks,
};
use crate::browser::{Chromium, Page, Seen};
use crate::checks::{PROMPTLY, Sink, start};
use crate::steps::{Output, Program, Running};

/// What Chromium's console says when a server answers a WebSocket's
/// handshake with 403.
pub const HANDSHAKE_403: &str = "Error during WebSocket handshake: Unexpected response code: 403";

/// What Chromium's console says when a server answers a WebSocket's
/// handshake with 200 and a page, as step 3 would with its routes in the
/// wrong order (a test builds such a copy).
#[cfg(test)]
pub const HANDSHAKE_200: &str = "Error during WebSocket handshake: Unexpected response code: 200";

/// What Chromium's console says when a server answers a WebSocket's
/// handshake with 400.
pub const HANDSHAKE_400: &str = "Error during WebSocket handshake: Unexpected response code: 400";

/// A second WebSocket the page opens beside its own, offering the
/// subprotocol `chat`, as a learner's first own client often does. Its
/// events go to the console.
const OFFERS_CHAT: &str = "(() => {
    const offering = new WebSocket(address, 'chat');
    offering.onopen = () => console.log('offering chat: open');
    offering.onerror = () => console.log('offering chat: error');
    offering.onclose = (event) => console.log('offering chat: closed ' + event.code);
    return true;
})()";

/// What Chromium's console says when nothing listens where a WebSocket
/// goes.
pub const REFUSED_CONNECTION: &str = "net::ERR_CONNECTION_REFUSED";

#[cfg(test)]
/// How long hyper in step 3 waits for a request head, idle keep-alive
/// connections included, before it closes the connection.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The checks of this module that verify runs: step 3 refuses the page from
/// disk and a page of another origin; against step 1 (which chapter 4
/// reads), the page's own `close()` and `close(1000)` reach it as 1005 and
/// 1000; a page finds step 1 listening on 127.0.0.1 only or on ::1 only; and
/// a page with nothing to talk to shows an error and 1006.
pub async fn run(
    chromium: &Chromium,
    sink: &Sink,
    step1: Option<&Running>,
    step3: Option<&Running>,
) {
    let refusals = async {
        let Some(step3) = step3 else { return };
        let from_disk =
            refused_page(chromium, &page_from_disk(step3.port), &step3.output, "null").await;
        sink.record("step3", from_disk, Some(&step3.output));
        // A second step 3, as a learner starts it with PORT=8081: its page,
        // told to talk to the first one, comes from another origin.
        let Some(other) = start("step3", sink).await else {
            return;
        };
        let url = page_of_other_origin(other.port, step3.port);
        let origin = format!("http://localhost:{}", other.port);
        let result = refused_page(chromium, &url, &step3.output, &origin).await;
        sink.record("step3", result, Some(&step3.output));
    };
    let step1_pages = async {
        let Some(step1) = step1 else { return };
        let url = page_from_disk(step1.port);
        let (bare, normal, nobody) = tokio::join!(
            page_close_code(chromium, &url, &step1.output, "socket.close()", 1005),
            page_close_code(chromium, &url, &step1.output, "socket.close(1000)", 1000),
            nothing_listening(chromium),
        );
        sink.record("step1", bare, Some(&step1.output));
        sink.record("step1", normal, Some(&step1.output));
        sink.record("step1", nobody, None);
    };
    let one_address = async {
        if step1.is_none() {
            return;
        }
        let (ipv4, ipv6) = tokio::join!(
            found_on_one_address(chromium, "127.0.0.1"),
            found_on_one_address(chromium, "::1"),
        );
        sink.record("step1", ipv4, None);
        sink.record("step1", ipv6, None);
    };
    let too_big = async {
        let (on_step1, on_step3) = tokio::join!(
            async {
                let step1 = step1?;
                let url = page_from_disk(step1.port);
                Some((step1, too_big_message(chromium, &url, &step1.output).await))
            },
            async {
                let step3 = step3?;
                let url = super::page_url(step3.port);
                Some((step3, too_big_message(chromium, &url, &step3.output).await))
            },
        );
        for (subject, seen) in [("step1", on_step1), ("step3", on_step3)] {
            if let Some((server, result)) = seen {
                sink.record(subject, result, Some(&server.output));
            }
        }
    };
    let subprotocol = async {
        let (on_step1, on_step3) = tokio::join!(
            async {
                step1?;
                Some(subprotocol_refused(chromium, "step1").await)
            },
            async {
                step3?;
                Some(subprotocol_refused(chromium, "step3").await)
            },
        );
        for (subject, result) in [("step1", on_step1), ("step3", on_step3)] {
            if let Some(result) = result {
                sink.record(subject, result, None);
            }
        }
    };
    tokio::join!(refusals, step1_pages, one_address, too_big, subprotocol);
}

/// A page that offers a subprotocol, `new WebSocket(address, 'chat')`, to
/// a server step that speaks none: the server refuses it with 400 and says
/// why, the console says `Unexpected response code: 400`, and the page sees
/// an error and 1006. The server prints no `Connected:` line for it: a
/// `101` without the subprotocol would fail in the browser as well, with
/// the server believing the client connected. A fresh server, so that its
/// output holds only this page.
pub async fn subprotocol_refused(chromium: &Chromium, package: &str) -> anyhow::Result<String> {
    let server = Program::of(package).start(&[]).await?;
    let url = match package {
        "step1" => page_from_disk(server.port),
        _ => page_url(server.port),
    };
    let mut page = chromium.open(&url).await?;
    hears_the_greeting(&mut page, &server.output).await?;
    page.evaluate(OFFERS_CHAT).await?;
    let closed = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            seen.console
                .iter()
                .any(|line| line.text.starts_with("offering chat: closed"))
        })
        .await;
    let events: Vec<&str> = page
        .seen
        .console
        .iter()
        .map(|line| line.text.as_str())
        .filter(|text| text.starts_with("offering chat: "))
        .collect();
    ensure!(
        closed && events == ["offering chat: error", "offering chat: closed 1006"],
        "a WebSocket offering the subprotocol chat did not fail with an error and 1006: \
         its events were {events:?}; {}",
        describe(&page.seen)
    );
    let console = page
        .seen
        .console
        .iter()
        .find(|line| line.text.contains(HANDSHAKE_400))
        .with_context(|| {
            format!(
                "the console does not say {HANDSHAKE_400:?}; {}",
                describe(&page.seen)
            )
        })?
        .text
        .clone();
    let refusal = "GET / -> 400 Bad Request (Sec-WebSocket-Protocol asks for a subprotocol";
    let printed = server
        .output
        .wait_for(0, PROMPTLY, |line| line.starts_with(refusal))
        .await
        .with_context(|| {
            format!(
                "the server printed no line starting {refusal:?}: {:?}",
                server.output.lines()
            )
        })?;
    let connected = server
        .output
        .lines()
        .iter()
        .filter(|line| line.starts_with("Connected: "))
        .count();
    ensure!(
        connected == 1,
        "the server printed {connected} `Connected:` lines, not 1 (the page's own WebSocket): {:?}",
        server.output.lines()
    );
    Ok(format!(
        "in the browser, {package}'s page offering the subprotocol chat is refused: the server printed \
         {printed:?}; the console says {console:?}; the WebSocket got an error and 1006"
    ))
}

/// A page that sends 100,000 characters, over the servers' 64 KiB limit,
/// is told why: its `onclose` reports 1009 with the server's reason, not
/// the 1006 a browser reports when the connection is reset under it.
pub async fn too_big_message(
    chromium: &Chromium,
    url: &str,
    server: &Output,
) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    hears_the_greeting(&mut page, server).await?;
    page.evaluate("socket.send('a'.repeat(100000))").await?;
    let closed = wait_for_close(&mut page).await;
    let lines = page.texts("#log li").await?;
    let last = lines.last().map_or("nothing", String::as_str);
    ensure!(
        closed,
        "after sending 100,000 characters the page did not close within {PAGE_TIMEOUT:?}; \
         it shows {lines:?}"
    );
    ensure!(
        last.starts_with("Closed: code 1009 (") && last.contains("too long"),
        "after sending 100,000 characters the page shows {last:?}, \
         not \"Closed: code 1009 (...Message too long...)\""
    );
    Ok(format!(
        "in the browser, a page that sends 100,000 characters shows {last:?}"
    ))
}

/// Step 3's page served on `page_port`, told to talk to the server on
/// `server_port`.
pub fn page_of_other_origin(page_port: u16, server_port: u16) -> String {
    format!(
        "{}?server=ws://localhost:{server_port}",
        page_url(page_port)
    )
}

/// The page at `url` talks to a server that refuses it: the server prints
/// its 403 line naming the page's `origin`, the browser's console says
/// `Unexpected response code: 403`, and the page, which is never told the
/// status, shows an error line and then `Closed: code 1006`.
pub async fn refused_page(
    chromium: &Chromium,
    url: &str,
    server: &Output,
    origin: &str,
) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    let failed = fails_to_connect(&mut page, HANDSHAKE_403).await;
    let refusal = format!("Origin {origin};");
    let printed = server
        .wait_for(0, PROMPTLY, |line| {
            line.starts_with("GET / -> 403 Forbidden") && line.contains(&refusal)
        })
        .await;
    let Some(printed) = printed else {
        let lines = page.texts("#log li").await?;
        anyhow::bail!(
            "the server printed no `GET / -> 403 Forbidden` line for {refusal:?}; the page shows {lines:?}"
        );
    };
    let (lines, console) = failed?;
    Ok(format!(
        "in the browser, a page from origin {origin} is refused: the server printed {printed:?}; the console says {console:?}; the page shows {lines:?}"
    ))
}

/// Step 2's page from disk, pointed at a port where nothing listens: an
/// error line, then `Closed: code 1006`, and the console names
/// `net::ERR_CONNECTION_REFUSED`.
pub async fn nothing_listening(chromium: &Chromium) -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    cannot_connect(chromium, &page_from_disk(port), REFUSED_CONNECTION).await
}

/// The page at `url` cannot open its WebSocket: see `fails_to_connect`.
pub async fn cannot_connect(chromium: &Chromium, url: &str, cause: &str) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    let (lines, console) = fails_to_connect(&mut page, cause).await?;
    Ok(format!(
        "in the browser, the page shows {lines:?}; the console says {console:?}"
    ))
}

/// A page whose WebSocket cannot open: it shows an `Error: ...` line and
/// ends with `Closed: code 1006`, since a page is never told why; the
/// console, which is, has a line containing `cause`. Returns the page's
/// lines and that console line.
async fn fails_to_connect(page: &mut Page, cause: &str) -> anyhow::Result<(Vec<String>, String)> {
    let closed = wait_for_close(page).await;
    let lines = page.texts("#log li").await?;
    ensure!(
        closed,
        "the page did not close within {PAGE_TIMEOUT:?}; it shows {lines:?}; {}",
        describe(&page.seen)
    );
    let error = lines.iter().position(|line| line.starts_with("Error: "));
    let closed_1006 = lines.iter().position(|line| line == "Closed: code 1006");
    ensure!(
        error.is_some() && error < closed_1006 && closed_1006 == Some(lines.len() - 1),
        "the page does not show an `Error: ...` line and end with `Closed: code 1006`: {lines:?}"
    );
    let console = page
        .seen
        .console
        .iter()
        .find(|line| line.text.contains(cause))
        .with_context(|| {
            format!(
                "the console has no line with {cause:?}; {}",
                describe(&page.seen)
            )
        })?;
    Ok((lines, console.text.clone()))
}

/// Step 1 started with `HOST=host`, a single loopback address: step 2's
/// page, which connects to `localhost`, still finds it, because a browser
/// tries both addresses that `localhost` has.
pub async fn found_on_one_address(chromium: &Chromium, host: &str) -> anyhow::Result<String> {
    let server = Program::of("step1").start(&[("HOST", host)]).await?;
    let listening = server
        .output
        .wait_for(0, PROMPTLY, |line| line.starts_with("Listening on "))
        .await
        .unwrap_or_default();
    let result = step2_page_talks(chromium, &page_from_disk(server.port), &server.output).await;
    let seen = result.with_context(|| {
        format!("with HOST={host} ({listening:?}), the page did not find the server")
    })?;
    Ok(format!("HOST={host}: {seen}"))
}

/// The page at `url` (step 2's page, talking to `server`) hears the
/// greeting, then runs `call` as a learner types it into the console; its
/// `onclose` then reports `expected`. The server's `Connected:` line names
/// the browser as `[::1]:PORT` or `127.0.0.1:PORT`.
pub async fn page_close_code(
    chromium: &Chromium,
    url: &str,
    server: &Output,
    call: &str,
    expected: u16,
) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    hears_the_greeting(&mut page, server).await?;
    page.evaluate(call).await?;
    let closed = wait_for_close(&mut page).await;
    let lines = page.texts("#log li").await?;
    ensure!(
        closed,
        "after {call} the page did not close within {PAGE_TIMEOUT:?}; it shows {lines:?}"
    );
    let wanted = format!("Closed: code {expected}");
    ensure!(
        lines.last() == Some(&wanted),
        "after {call} the page shows {:?}, not {wanted:?}",
        lines.last().map_or("nothing", String::as_str)
    );
    let connected = connected_line(server).await?;
    Ok(format!(
        "in the browser, {call} ends with {wanted:?} on the page; the server printed {connected:?}"
    ))
}

/// The server's first `Connected:` line, which must name a loopback client
/// as `[::1]:PORT` or `127.0.0.1:PORT`.
async fn connected_line(server: &Output) -> anyhow::Result<String> {
    let line = server
        .wait_for(0, PROMPTLY, |line| line.starts_with("Connected: "))
        .await
        .context("the server printed no `Connected:` line")?;
    let client = line["Connected: ".len()..]
        .split(' ')
        .next()
        .unwrap_or_default();
    let port = client
        .strip_prefix("[::1]:")
        .or_else(|| client.strip_prefix("127.0.0.1:"));
    ensure!(
        port.is_some_and(|port| port.parse::<u16>().is_ok()),
        "the `Connected:` line names {client:?}, not [::1]:PORT or 127.0.0.1:PORT: {line:?}"
    );
    Ok(line)
}

/// Waits until the page logged its `Closed: code N` line.
async fn wait_for_close(page: &mut Page) -> bool {
    let closed = |seen: &Seen| {
        seen.console
            .iter()
            .any(|line| line.text.starts_with("Closed: code "))
    };
    page.wait_until(PAGE_TIMEOUT, closed).await
}

/// Step 3's page is opened and left alone: ten quiet seconds later, the
/// browser's idle keep-alive connection ends, and step 3 prints
/// `[::1]:PORT: no complete HTTP request within 10s, connection closed`
/// (or `127.0.0.1:PORT: ...`). Not an error; the page is unaffected.
/// This takes over ten seconds, so the tests run it, not verify.
#[cfg(test)]
pub async fn idle_keep_alive_line(
    chromium: &Chromium,
    url: &str,
    server: &Output,
) -> anyhow::Result<String> {
    let opened = Instant::now();
    let mut page = chromium.open(url).await?;
    hears_the_greeting(&mut page, server).await?;
    let ending = format!(": no complete HTTP request within {HEAD_TIMEOUT:?}, connection closed");
    let is_idle_line = |line: &str| {
        line.strip_suffix(&ending).is_some_and(|client| {
            client
                .strip_prefix("[::1]:")
                .or_else(|| client.strip_prefix("127.0.0.1:"))
                .is_some_and(|port| port.parse::<u16>().is_ok())
        })
    };
    let line = server
        .wait_for(0, HEAD_TIMEOUT + PAGE_TIMEOUT, is_idle_line)
        .await;
    let waited = opened.elapsed();
    let line = line.with_context(|| {
        format!(
            "no line ending in {ending:?} within {:?} of opening the page; the server printed {:?}",
            HEAD_TIMEOUT + PAGE_TIMEOUT,
            server.lines()
        )
    })?;
    ensure!(
        waited >= HEAD_TIMEOUT - Duration::from_secs(1),
        "the line {line:?} came {waited:?} after the page opened, before the browser's connection was quiet for {HEAD_TIMEOUT:?}"
    );
    let lines = page.texts("#log li").await?;
    ensure!(
        !lines.iter().any(|line| line.starts_with("Closed:")),
        "the page's WebSocket closed when the idle HTTP connection ended: {lines:?}"
    );
    Ok(format!(
        "{waited:.1?} after the page opened, step 3 printed {line:?}; the page's WebSocket stays open"
    ))
}

#[cfg(test)]
mod tests;
