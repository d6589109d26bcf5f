//! What chapter 3 says about which pages a browser lets open a WebSocket
//! to `localhost`, checked in headless Chromium against the real step 1
//! (which refuses no page, so whatever stops a page is the browser).

use std::time::Duration;

use crate::browser::{self, Chromium, Page};
use crate::steps::{self, Running, workspace_root};
use crate::tools;

/// Long enough for a refusal or a greeting on a busy machine.
const WAIT: Duration = Duration::from_secs(15);

/// The console's sign that Local Network Access stopped the connection.
const BLOCKED: &str = "net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS";

/// Opens a WebSocket from whatever page `page` shows.
async fn connect_from(page: &Page, port: u16) {
    let script = format!("window.probe = new WebSocket('ws://localhost:{port}/'); 0");
    page.evaluate(&script)
        .await
        .expect("the page runs the script");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blank_tab_may_not_reach_localhost_but_a_page_from_disk_or_localhost_may() {
    let Some(program) = tools::require_or_skip("Chromium", browser::find()) else {
        return;
    };
    tokio::task::spawn_blocking(steps::build)
        .await
        .unwrap()
        .unwrap();
    let server = Running::start("step1").await.unwrap();
    let port = server.port;
    let chromium = Chromium::launch(&program).await.expect("Chromium starts");

    // A blank tab stands for a page from the internet: not a local page.
    let mut blank = chromium.open("about:blank").await.unwrap();
    connect_from(&blank, port).await;
    let blocked = blank
        .wait_until(WAIT, |seen| {
            seen.console.iter().any(|line| line.text.contains(BLOCKED))
        })
        .await;
    assert!(blocked, "no {BLOCKED}: {:#?}", blank.seen.console);
    let connected = |server: &Running| {
        server
            .output
            .lines()
            .iter()
            .filter(|line| line.starts_with("Connected:"))
            .count()
    };
    assert_eq!(connected(&server), 0, "{:?}", server.output.lines());

    // The page from disk, as chapter 2 opens it.
    let file = workspace_root().join("step2-html-client/index.html");
    let url = format!("file://{}?server=ws://localhost:{port}", file.display());
    let _from_disk = chromium.open(&url).await.unwrap();
    let greeted = server
        .output
        .wait_for(0, WAIT, |line| line.starts_with("Connected:"))
        .await;
    assert!(greeted.is_some(), "{:?}", server.output.lines());

    // A page of localhost itself: step 1's own address, whose 426 page
    // is still a page of that origin.
    let mut local = chromium
        .open(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    connect_from(&local, port).await;
    let second = server
        .output
        .wait_for(0, WAIT, |line| {
            line.starts_with("Connected:") && line.ends_with("(2 open)")
        })
        .await;
    local
        .wait_until(Duration::from_millis(200), |_| false)
        .await;
    assert!(
        second.is_some(),
        "{:?} {:#?}",
        server.output.lines(),
        local.seen.console
    );
}
