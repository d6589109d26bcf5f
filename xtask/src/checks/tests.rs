//! The checks against the real steps, and against deliberately wrong
//! servers, to show that each check can fail.

use std::future::Future;
use std::io::Write;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Sink, greets_and_prints, step1, step2, step3, step4};
use crate::runner::{Outcome, Verdict};
use crate::steps::{self, Output};

/// Runs one group of checks and returns what it found.
async fn outcomes_of<F: Future<Output = ()>>(group: impl FnOnce(Sink) -> F) -> Vec<Outcome> {
    steps::build().expect("the steps build");
    let (sink, mut receiver) = Sink::new();
    group(sink).await;
    let mut outcomes = Vec::new();
    while let Some(outcome) = receiver.recv().await {
        outcomes.push(outcome);
    }
    outcomes
}

fn assert_all_passed(outcomes: &[Outcome], at_least: usize) {
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| match &outcome.verdict {
            Verdict::Passed(_) => None,
            Verdict::Failed { problem, output } => {
                Some(format!("{problem}\n{}", output.join("\n")))
            }
            // Off Linux, the memory checks cannot read /proc and skip.
            Verdict::Skipped(why) if cfg!(target_os = "linux") => Some(format!("skipped: {why}")),
            Verdict::Skipped(why) => {
                // Straight to stderr: the harness hides what a passing test prints.
                let _ = writeln!(std::io::stderr(), "skipped: {why}");
                None
            }
        })
        .collect();
    assert!(
        failures.is_empty(),
        "failed checks:\n{}",
        failures.join("\n\n")
    );
    assert!(
        outcomes.len() >= at_least,
        "only {} checks ran",
        outcomes.len()
    );
}

#[tokio::test]
async fn step1_passes_every_check() {
    let outcomes = outcomes_of(step1::run).await;
    assert_all_passed(&outcomes, step1::REFUSALS.len() + 4);
}

#[tokio::test]
async fn step2_passes_every_check() {
    assert_all_passed(&outcomes_of(step2::run).await, 3);
}

#[tokio::test]
async fn step3_passes_every_check() {
    assert_all_passed(&outcomes_of(step3::run).await, 6);
}

/// Without redis-server the group is one skip (a failure with
/// REQUIRE_TOOLS=1); with it, every check passes.
#[tokio::test(flavor = "multi_thread")]
async fn step4_passes_every_check() {
    // The pages through nginx only where both are installed: a skip for
    // either would count as a failure here.
    let pages = crate::browser::find().is_ok() && crate::many_servers::find_nginx().is_ok();
    let outcomes = outcomes_of(|sink| step4::run(sink, pages)).await;
    if crate::many_servers::find_redis().is_err() {
        return;
    }
    assert_all_passed(&outcomes, 6);
}

/// A server that answers every connection with `200 OK`: what step 1 would
/// look like if it served pages.
async fn server_answering_200() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\
                              Connection: close\r\n\r\nhi";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// A WebSocket server that accepts the handshake and then says nothing.
async fn server_that_never_greets() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await {
                    while socket.next().await.is_some() {}
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn refusal_check_fails_when_the_server_answers_200() {
    let port = server_answering_200().await;
    for refusal in step1::REFUSALS {
        let error = step1::refuses(port, refusal, &Output::new())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("HTTP/1.1 200 OK"), "{error:#}");
    }
}

#[tokio::test]
async fn greeting_check_fails_when_the_server_never_greets() {
    let port = server_that_never_greets().await;
    let error = greets_and_prints(port, &Output::new()).await.unwrap_err();
    assert!(format!("{error:#}").contains("no greeting"), "{error:#}");
}

#[tokio::test]
async fn page_checks_fail_against_a_server_of_other_pages() {
    let port = server_answering_200().await;
    let page = step3::serves_page(port).await.unwrap_err();
    assert!(page.to_string().contains("content type"), "{page:#}");
    let icon = step3::serves_icon(port).await.unwrap_err();
    assert!(
        icon.to_string().contains("not 200 with an image"),
        "{icon:#}"
    );
}

#[tokio::test]
async fn port_check_fails_when_the_port_is_free() {
    // Nothing listens here, so a step starts instead of reporting the port
    // as taken; it is stopped when the check gives up waiting for it.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    steps::build().unwrap();
    let error = super::port_taken("step1", free).await.unwrap_err();
    assert!(error.to_string().contains("did not finish"), "{error:#}");
}
