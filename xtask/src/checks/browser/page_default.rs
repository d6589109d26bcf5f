//! The address step 2's page opens when a learner opens it from disk, as
//! the quick start says: `ws://localhost:8080`, where step 1 listens by
//! default. The other checks pass the page a server's address with
//! `?server=`, so this is the only one that sees the page's own default.
//!
//! The checks' browser cannot reach port 8080 (see `Chromium::launch`), so
//! the page never meets a server the learner may have running there; the
//! browser still records the URL the page tried to open, and why it failed.

use std::path::Path;

use anyhow::ensure;

use super::{PAGE_TIMEOUT, describe};
use crate::browser::{Chromium, UNREACHABLE_DEFAULT};
use crate::course::DEFAULT_PORT;
use crate::steps::workspace_root;

/// Opened from disk, step 2's page opens `ws://localhost:8080/`.
pub async fn opens_step1_default(chromium: &Chromium) -> anyhow::Result<String> {
    let page = workspace_root().join("step2-html-client/index.html");
    opened_from(chromium, &page).await
}

/// The page in the file `page`, opened from disk with no `?server=`,
/// opens `ws://localhost:8080/`.
pub async fn opened_from(chromium: &Chromium, page: &Path) -> anyhow::Result<String> {
    let expected = format!("ws://localhost:{DEFAULT_PORT}/");
    let mut page = chromium.open(&format!("file://{}", page.display())).await?;
    let failed = |seen: &crate::browser::Seen| {
        seen.console
            .iter()
            .any(|line| line.text.contains(UNREACHABLE_DEFAULT))
    };
    let tried = page
        .wait_until(PAGE_TIMEOUT, |seen| {
            !seen.websockets.is_empty() && (failed(seen) || seen.websockets[0] != expected)
        })
        .await;
    let seen = &page.seen;
    ensure!(
        tried && !seen.websockets.is_empty(),
        "opened from disk, the page opened no WebSocket within {PAGE_TIMEOUT:?}; {}",
        describe(seen)
    );
    ensure!(
        seen.websockets == [expected.as_str()],
        "opened from disk, the page opens {:?}, not {expected:?}, where step 1 listens by default \
         (the quick start's step 2)",
        seen.websockets
    );
    ensure!(
        failed(seen),
        "the browser should not reach port {DEFAULT_PORT}, yet the console does not show \
         {UNREACHABLE_DEFAULT}; {}",
        describe(seen)
    );
    Ok(format!(
        "in the browser, the page opened from disk with no ?server= opens {expected} \
         (kept from port {DEFAULT_PORT} here: {UNREACHABLE_DEFAULT})"
    ))
}
