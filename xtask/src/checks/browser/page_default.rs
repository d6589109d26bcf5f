//! Step 2's page opened from disk exactly as the quick start says, with
//! no `?server=`: it opens `ws://localhost:8080`, where step 1 listens by
//! default, and talks to it. The other checks pass the page a server's
//! address, so this is the only one that sees the page's own default.
//!
//! No server of the checks listens on port 8080, where a learner's own
//! may: the checks' browser takes what a page opens there to a step 1 on
//! a free port instead (`Chromium::launch_with_default_port_at`), and
//! still records the URL the page asked for.

use std::path::Path;

use anyhow::ensure;

use super::{GREETING, PAGE_TIMEOUT, describe, hears_the_greeting};
use crate::browser::Chromium;
use crate::course::DEFAULT_PORT;
use crate::steps::{Output, workspace_root};

/// Step 2's page, opened from disk, opens `ws://localhost:8080/` and
/// hears step 1's greeting there. `server` is the step 1 that the browser
/// takes the default port to.
pub async fn talks_to_step1_by_default(
    chromium: &Chromium,
    server: &Output,
) -> anyhow::Result<String> {
    let page = workspace_root().join("step2-html-client/index.html");
    opened_from(chromium, &page, server).await
}

/// The page in the file `page`, opened from disk with no `?server=`,
/// opens `ws://localhost:8080/` and hears the greeting of `server`.
pub async fn opened_from(
    chromium: &Chromium,
    page: &Path,
    server: &Output,
) -> anyhow::Result<String> {
    let expected = format!("ws://localhost:{DEFAULT_PORT}/");
    let mut page = chromium.open(&format!("file://{}", page.display())).await?;
    let opened = page
        .wait_until(PAGE_TIMEOUT, |seen| !seen.websockets.is_empty())
        .await;
    ensure!(
        opened,
        "opened from disk, the page opened no WebSocket within {PAGE_TIMEOUT:?}; {}",
        describe(&page.seen)
    );
    ensure!(
        page.seen.websockets == [expected.as_str()],
        "opened from disk, the page opens {:?}, not {expected:?}, where step 1 listens by default \
         (the quick start's step 2)",
        page.seen.websockets
    );
    let lines = hears_the_greeting(&mut page, server).await?;
    // What chapter 2 shows the page listing.
    let shown = [
        format!("Connecting to ws://localhost:{DEFAULT_PORT}"),
        format!("Sent: {GREETING}"),
        format!("Received: {GREETING}"),
    ];
    ensure!(
        lines == shown,
        "opened from disk, the page lists {lines:?}, not {shown:?} as chapter 2 shows"
    );
    Ok(format!(
        "in the browser, the page opened from disk with no ?server= opens {expected} and shows {lines:?} \
         (the browser takes port {DEFAULT_PORT} to a step 1 on a free port)"
    ))
}
