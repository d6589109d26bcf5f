//! The address step 2's page opens when a learner opens it from disk, as
//! the quick start says: `ws://localhost:8080`, where step 1 listens by
//! default. The other checks pass the page a server's address with
//! `?server=`, so this is the only one that sees the page's own default.
//!
//! The page's WebSockets are blocked in the browser, so that the page
//! never reaches a server the learner may have running on port 8080: the
//! browser still records the URL the page tried to open.

use anyhow::ensure;

use super::{PAGE_TIMEOUT, describe};
use crate::browser::Chromium;
use crate::checks::default_port::DEFAULT_PORT;
use crate::steps::workspace_root;

/// Step 2's page opened from disk, with no `?server=`.
fn page_as_opened_from_disk() -> String {
    let file = workspace_root().join("step2-html-client/index.html");
    format!("file://{}", file.display())
}

/// Opened from disk, the page opens `ws://localhost:8080/`.
pub async fn opens_step1_default(chromium: &Chromium) -> anyhow::Result<String> {
    let expected = format!("ws://localhost:{DEFAULT_PORT}/");
    let url = page_as_opened_from_disk();
    let mut page = chromium
        .open_blocking(&url, &["ws://*", "wss://*"])
        .await?;
    let tried = page
        .wait_until(PAGE_TIMEOUT, |seen| !seen.websockets.is_empty())
        .await;
    let seen = &page.seen;
    ensure!(
        tried,
        "opened from disk, the page opened no WebSocket within {PAGE_TIMEOUT:?}; {}",
        describe(seen)
    );
    ensure!(
        seen.websockets == [expected.as_str()],
        "opened from disk, the page opens {:?}, not {expected:?}, where step 1 listens by default \
         (the quick start's step 2)",
        seen.websockets
    );
    Ok(format!(
        "in the browser, the page opened from disk with no ?server= opens {expected} (blocked here, so no server on port {DEFAULT_PORT} is reached)"
    ))
}
