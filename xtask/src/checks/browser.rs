//! The steps in a real browser: headless Chromium opens each one as a
//! learner would, and its console and network activity are compared with
//! the tutorial and with what the original Node servers make a browser show.
//! Measured with Node 20, `ws` 8.23.0, `express` 5.3.0 and headless
//! Chromium 156: the `ws` server alone answers `/` and `/favicon.ico` with
//! 426, so the console shows `Failed to load resource: ... 426 (Upgrade
//! Required)` twice (the tutorial's two errors); express with `ws` on one
//! port serves the page and logs `Received: Hello, WebSocket!`, but answers
//! `/favicon.ico` with 404, one console error that step 3 does not have.

use std::time::Duration;

use anyhow::{anyhow, bail, ensure};

use super::{GREETING, PROMPTLY, Sink, start};
use crate::browser::{self, Chromium, Page, Seen};
use crate::steps::{Output, Program, workspace_root};
use crate::tools;

pub mod page_default;
pub mod seen_by_page;
#[cfg(test)]
mod tests;

/// How long a page may take to load, connect and hear the greeting.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What Chromium's console says for each request that step 1 refuses.
pub const REFUSED: &str =
    "Failed to load resource: the server responded with a status of 426 (Upgrade Required)";

/// What Chromium reports when a server closes the connection without any
/// HTTP answer.
pub const EMPTY_RESPONSE: &str = "net::ERR_EMPTY_RESPONSE";

/// Runs the browser check of each step, or only of step `only`.
pub async fn run(sink: Sink, only: Option<u8>) {
    let wanted = |step: u8| only.is_none_or(|only| only == step);
    let subjects: Vec<String> = (1..=3)
        .filter(|&step| wanted(step))
        .map(|step| format!("step{step}"))
        .collect();
    let program = match browser::find() {
        Ok(program) => program,
        Err(why) => {
            for subject in &subjects {
                let why = format!("browser check: {why}");
                if tools::required() {
                    let why = format!("{why} ({} is set)", tools::REQUIRE_TOOLS);
                    sink.record(subject, Err(anyhow!(why)), None);
                } else {
                    sink.skip(subject, why);
                }
            }
            return;
        }
    };
    // Step 2's page is also opened as a learner opens it, on the default
    // port: the browser takes that port to a step 1 of its own.
    let default_step1 = if wanted(2) {
        start("step1", &sink).await
    } else {
        None
    };
    let default_port_at = default_step1.as_ref().map(|server| server.port);
    let chromium = match Chromium::launch_with_default_port_at(&program, default_port_at).await {
        Ok(chromium) => chromium,
        Err(error) => {
            for subject in &subjects {
                sink.record(subject, Err(anyhow!("browser check: {error:#}")), None);
            }
            return;
        }
    };
    // Fresh copies of the servers, so that their output holds only what
    // the browser caused. Step 2's page talks to step 1.
    let (step1, step3) = tokio::join!(
        async {
            if wanted(1) || wanted(2) {
                start("step1", &sink).await
            } else {
                None
            }
        },
        async {
            if wanted(3) {
                start("step3", &sink).await
            } else {
                None
            }
        },
    );
    let chromium = &chromium;
    let sink = &sink;
    tokio::join!(
        async {
            if let Some(step1) = step1.as_ref().filter(|_| wanted(1)) {
                let result = step1_refuses_the_page(chromium, &page_url(step1.port)).await;
                sink.record("step1", result, Some(&step1.output));
            }
        },
        async {
            if let Some(step1) = step1.as_ref().filter(|_| wanted(2)) {
                let result =
                    step2_page_talks(chromium, &page_from_disk(step1.port), &step1.output).await;
                sink.record("step2", result, Some(&step1.output));
            }
        },
        async {
            if let Some(step3) = &step3 {
                let result =
                    step3_page_talks_cleanly(chromium, &page_url(step3.port), &step3.output).await;
                sink.record("step3", result, Some(&step3.output));
            }
        },
        async {
            if let Some(server) = &default_step1 {
                let result =
                    page_default::talks_to_step1_by_default(chromium, &server.output).await;
                sink.record("step2", result, Some(&server.output));
            }
        },
        async {
            if wanted(1) {
                let result = minimal_example_answers_nothing(chromium).await;
                sink.record("step1", result, None);
            }
        },
        seen_by_page::run(
            chromium,
            sink,
            step1.as_ref().filter(|_| wanted(1)),
            step3.as_ref()
        ),
    );
}

/// The address a learner types to open a server step in the browser.
pub fn page_url(port: u16) -> String {
    format!("http://localhost:{port}/")
}

/// Step 2's page opened from disk, pointed at a server on `port`.
pub fn page_from_disk(port: u16) -> String {
    let file = workspace_root().join("step2-html-client/index.html");
    format!("file://{}?server=ws://localhost:{port}", file.display())
}

/// Step 1 asked for a page: the browser gets 426 for the page and for the
/// icon, and says so twice in its console (the tutorial's Error 1 and 2).
pub async fn step1_refuses_the_page(chromium: &Chromium, url: &str) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    let icon = format!("{}favicon.ico", origin(url));
    let refused = |seen: &Seen, resource: &str| {
        seen.console
            .iter()
            .any(|line| line.text == REFUSED && line.url.as_deref() == Some(resource))
    };
    // Wait for both errors, but stop early when the page was not refused.
    let both = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            (refused(seen, url) && refused(seen, &icon))
                || seen.status_of(url).is_some_and(|status| status != 426)
        })
        .await;
    let seen = &page.seen;
    let status = seen.status_of(url);
    ensure!(
        status == Some(426),
        "the browser got {status:?} for {url}, not 426; {}",
        describe(seen)
    );
    ensure!(
        both && seen.errors().len() == 2,
        "the console does not show exactly {REFUSED:?} for {url} and for {icon}; {}",
        describe(seen)
    );
    Ok(format!(
        "in the browser: {url} -> 426, and the console shows {REFUSED:?} for / and for /favicon.ico (the tutorial's Error 1 and 2)"
    ))
}

/// Step 1's first listing, the tutorial's server line for line, asked for
/// a page: it hangs up without an HTTP answer, and the browser reports an
/// empty response instead of the tutorial's `426 Upgrade Required`.
pub async fn minimal_example_answers_nothing(chromium: &Chromium) -> anyhow::Result<String> {
    let server = Program::example("minimal").start(&[]).await?;
    let url = page_url(server.port);
    match chromium.open(&url).await {
        Err(error) if format!("{error:#}").contains(EMPTY_RESPONSE) => Ok(format!(
            "in the browser, the example minimal asked for {url}: {EMPTY_RESPONSE}, no HTTP answer"
        )),
        Err(error) => Err(error.context(format!("expected {EMPTY_RESPONSE}"))),
        Ok(page) => bail!(
            "the browser opened {url} from the example minimal, expected {EMPTY_RESPONSE}; {}",
            describe(&page.seen)
        ),
    }
}

/// Step 2's page talks to the server: the console and the page show the
/// greeting, and the server prints what the page sent. Then a message
/// typed into the text box is sent with Enter, and another with the Send
/// button: the page lists each as sent and the server prints each.
pub async fn step2_page_talks(
    chromium: &Chromium,
    url: &str,
    server: &Output,
) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    let lines = hears_the_greeting(&mut page, server).await?;
    let typed = types_and_sends(&mut page, server).await?;
    Ok(format!(
        "in the browser, the page from disk shows {lines:?}; the server printed \"Received: {GREETING}\"; {typed}"
    ))
}

/// Types a message into the page's text box and presses Enter, then types
/// another and clicks Send, as a learner does: each is listed on the page
/// and in the console as `Sent: ...`, the box is emptied, and the server
/// prints `Received: ...`.
async fn types_and_sends(page: &mut Page, server: &Output) -> anyhow::Result<String> {
    let mut done = Vec::new();
    for (text, how) in [("typed, then Enter", "Enter"), ("typed, then Send", "Send")] {
        page.type_into("#message", text).await?;
        if how == "Enter" {
            page.press_enter().await?;
        } else {
            page.click("#send button").await?;
        }
        let sent = format!("Sent: {text}");
        let listed = page
            .wait_until(PROMPTLY, |seen| seen.console_has(&sent))
            .await;
        let lines = page.texts("#log li").await?;
        ensure!(
            listed && lines.contains(&sent),
            "after typing {text:?} and {how}, the page does not list {sent:?}: it shows {lines:?}"
        );
        let left = page
            .evaluate("document.querySelector('#message').value")
            .await?;
        ensure!(
            left == "",
            "after {how}, the text box still holds {left}: it should be empty for the next message"
        );
        let received = format!("Received: {text}");
        let printed = server.wait_for(0, PROMPTLY, |line| line == received).await;
        ensure!(
            printed.is_some(),
            "the page lists {sent:?}, but the server did not print {received:?}"
        );
        done.push(format!("{text:?} ({how})"));
    }
    Ok(format!(
        "typed into the text box, {} reached the server",
        done.join(" and ")
    ))
}

/// Step 3's page talks to the server it came from, and the browser logs no
/// error and no failed request at all, not even for the icon.
pub async fn step3_page_talks_cleanly(
    chromium: &Chromium,
    url: &str,
    server: &Output,
) -> anyhow::Result<String> {
    let mut page = chromium.open(url).await?;
    let lines = hears_the_greeting(&mut page, server).await?;

    // The browser asks for the icon on its own schedule, after the page has
    // loaded, so wait for its answer before judging that nothing failed.
    let icon = format!("{}favicon.ico", origin(url));
    let icon_answered = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            seen.status_of(&icon).is_some() || seen.failed.iter().any(|(url, _)| *url == icon)
        })
        .await;
    let seen = &page.seen;
    let bad_responses: Vec<_> = seen
        .responses
        .iter()
        .filter(|(_, status)| *status >= 400)
        .collect();
    ensure!(
        seen.errors().is_empty() && seen.failed.is_empty() && bad_responses.is_empty(),
        "the browser logged an error or a failed request; {}",
        describe(seen)
    );
    ensure!(
        icon_answered,
        "the browser did not ask for {icon} within {PAGE_TIMEOUT:?}; {}",
        describe(seen)
    );
    let statuses: Vec<String> = seen
        .responses
        .iter()
        .map(|(url, status)| format!("{url} {status}"))
        .collect();
    Ok(format!(
        "in the browser: {}; the page shows {lines:?}; no console error",
        statuses.join(", ")
    ))
}

/// Waits for the greeting in the console, then checks that the page's
/// own lines show it and that the server printed what the page sent.
/// Returns the page's lines.
async fn hears_the_greeting(page: &mut Page, server: &Output) -> anyhow::Result<Vec<String>> {
    let expected = format!("Received: {GREETING}");
    let heard = page
        .wait_until(PAGE_TIMEOUT, |seen| seen.console_has(&expected))
        .await;
    let lines = page.texts("#log li").await?;
    ensure!(
        heard,
        "the console did not show {expected:?} within {PAGE_TIMEOUT:?}; the page shows {lines:?}; {}",
        describe(&page.seen)
    );
    ensure!(
        lines.contains(&expected),
        "the console shows {expected:?} but the page's lines do not: {lines:?}"
    );
    let printed = server.wait_for(0, PROMPTLY, |line| line == expected).await;
    ensure!(
        printed.is_some(),
        "the page heard the greeting, but the server did not print {expected:?}"
    );
    Ok(lines)
}

/// `http://host:port/` of a URL.
fn origin(url: &str) -> String {
    let after_scheme = url.find("//").map_or(0, |start| start + 2);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |slash| after_scheme + slash);
    format!("{}/", &url[..end])
}

/// What the browser saw, for a failure message.
fn describe(seen: &Seen) -> String {
    let console: Vec<String> = seen.console.iter().map(ToString::to_string).collect();
    format!(
        "console: {console:?}; responses: {:?}; failed requests: {:?}",
        seen.responses, seen.failed
    )
}
