//! The browser checks pass on the real steps, and each one fails on a page
//! that does not behave. These tests need Chromium: where it is missing
//! they say so in one line and pass, unless `REQUIRE_TOOLS=1` (as in CI)
//! makes them fail (see `tools`).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::checks::assert_fails;
use crate::runner::Verdict;
use crate::steps::{self, Running};
use crate::tools;

/// A page that logs a line but never opens a WebSocket.
const SILENT_PAGE: &str = "<!DOCTYPE html><title>Silent</title><ol id=\"log\"></ol>\
    <script>console.log('This page never connects.')</script>";

const ICON: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#;

/// The browser, or `None` when the test is skipped for want of one.
fn chromium_program() -> Option<PathBuf> {
    tools::require_or_skip("Chromium", browser::find())
}

/// A running browser, or `None` when the test is skipped for want of one.
async fn launch() -> Option<Chromium> {
    let program = chromium_program()?;
    Some(Chromium::launch(&program).await.expect("Chromium starts"))
}

/// One fixed answer of the test server.
struct Route {
    path: &'static str,
    status: &'static str,
    content_type: &'static str,
    body: String,
}

/// A tiny web server on 127.0.0.1 and a free port, with fixed answers and
/// a 404 for any other path. It runs until the test ends.
async fn serve(routes: Vec<Route>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let target = head.split(' ').nth(1).unwrap_or_default();
                let path = target.split('?').next().unwrap_or_default();
                let (status, content_type, body) = routes
                    .iter()
                    .find(|route| route.path == path)
                    .map_or(("404 Not Found", "text/plain", "Not Found"), |route| {
                        (route.status, route.content_type, route.body.as_str())
                    });
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checks_pass_on_the_real_steps() {
    if chromium_program().is_none() {
        return;
    }
    steps::build().unwrap();
    let (sink, mut outcomes) = Sink::new();
    run(sink, None).await;

    let mut subjects = Vec::new();
    while let Some(outcome) = outcomes.recv().await {
        if let Verdict::Failed { problem, .. } | Verdict::Skipped(problem) = &outcome.verdict {
            panic!("{}: {problem}", outcome.subject);
        }
        subjects.push(outcome.subject);
    }
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects, ["step1", "step2", "step3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_check_fails_on_a_page_that_never_connects() {
    let Some(chromium) = launch().await else {
        return;
    };
    let port = serve(vec![
        Route {
            path: "/",
            status: "200 OK",
            content_type: "text/html",
            body: SILENT_PAGE.to_string(),
        },
        Route {
            path: "/favicon.ico",
            status: "200 OK",
            content_type: "image/svg+xml",
            body: ICON.to_string(),
        },
    ])
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    let no_server = Output::new();
    let (step1, step2, step3) = tokio::join!(
        step1_refuses_the_page(&chromium, &url),
        step2_page_talks(&chromium, &url, &no_server),
        step3_page_talks_cleanly(&chromium, &url, &no_server),
    );
    assert_fails(step1, &["got Some(200)", "not 426"]);
    let silent = "the console did not show \"Received: Hello, WebSocket!\"";
    assert_fails(step2, &[silent]);
    assert_fails(step3, &[silent]);
}

/// The page talks to step 1 fine, but its server has no icon: the browser
/// logs a 404 for /favicon.ico, which step 3 must not cause.
#[tokio::test(flavor = "multi_thread")]
async fn the_clean_check_fails_on_a_missing_icon() {
    steps::build().unwrap();
    let (chromium, step1) = tokio::join!(launch(), Running::start("step1"));
    let Some(chromium) = chromium else {
        return;
    };
    let step1 = step1.unwrap();
    let page = std::fs::read_to_string(workspace_root().join("step2-html-client/index.html"));
    let port = serve(vec![Route {
        path: "/",
        status: "200 OK",
        content_type: "text/html; charset=utf-8",
        body: page.unwrap(),
    }])
    .await;
    let url = format!(
        "http://127.0.0.1:{port}/?server=ws://localhost:{}",
        step1.port
    );
    let result = step3_page_talks_cleanly(&chromium, &url, &step1.output).await;
    assert_fails(
        result,
        &[
            "the browser logged an error or a failed request",
            "/favicon.ico\", 404",
        ],
    );
}

/// The page from disk connects and hears the greeting, but its Send does
/// nothing: the typing check fails, where the greeting check alone passed.
#[tokio::test(flavor = "multi_thread")]
async fn the_typing_check_fails_on_a_page_whose_send_does_nothing() {
    steps::build().unwrap();
    let (chromium, step1) = tokio::join!(launch(), Running::start("step1"));
    let Some(chromium) = chromium else {
        return;
    };
    let step1 = step1.unwrap();
    let page =
        std::fs::read_to_string(workspace_root().join("step2-html-client/index.html")).unwrap();
    let sends = "      socket.send(text);\n";
    assert!(
        page.contains(sends),
        "the page no longer sends with {sends:?}"
    );
    let port = serve(vec![Route {
        path: "/",
        status: "200 OK",
        content_type: "text/html; charset=utf-8",
        body: page.replace(sends, ""),
    }])
    .await;
    let url = format!(
        "http://127.0.0.1:{port}/?server=ws://localhost:{}",
        step1.port
    );
    let result = step2_page_talks(&chromium, &url, &step1.output).await;
    assert_fails(
        result,
        &["the page lists \"Sent: typed, then Enter\", but the server did not print"],
    );
}
