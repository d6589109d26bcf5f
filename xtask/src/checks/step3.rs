//! Step 3, page and WebSocket on one port: the page, the icon, a 404 for
//! anything else, and the WebSocket on the page's own URL.

use anyhow::ensure;

use super::{Sink, ctrl_c_says_going_away, greets_and_prints, port_taken, start};
use crate::steps::workspace_root;
use crate::wire;

pub async fn run(sink: Sink) {
    let Some(mut server) = start("step3", &sink).await else {
        return;
    };
    let output = &server.output;
    sink.record("step3", serves_page(server.port).await, Some(output));
    sink.record("step3", serves_icon(server.port).await, Some(output));
    sink.record("step3", not_found(server.port).await, Some(output));
    sink.record(
        "step3",
        greets_and_prints(server.port, output).await,
        Some(output),
    );
    sink.record(
        "step3",
        port_taken("step3", server.port).await,
        Some(output),
    );
    let result = ctrl_c_says_going_away(&mut server).await;
    sink.record("step3", result, Some(&server.output));
}

/// `GET /` returns step 2's `index.html`, as HTML in UTF-8.
pub async fn serves_page(port: u16) -> anyhow::Result<String> {
    let answer = wire::get(port, "/").await?;
    ensure!(
        answer.status == 200,
        "GET / answered {:?}, not 200",
        answer.status_line
    );
    let content_type = answer.header("content-type").unwrap_or_default();
    ensure!(
        content_type == "text/html; charset=utf-8",
        "GET / has content type {content_type:?}, not \"text/html; charset=utf-8\""
    );
    let page = std::fs::read(workspace_root().join("step2-html-client/index.html"))?;
    ensure!(
        answer.body == page,
        "GET / is not step2-html-client/index.html"
    );
    Ok(format!(
        "GET / -> 200, {content_type}, step 2's index.html ({} bytes)",
        page.len()
    ))
}

/// `/favicon.ico` gets an image, so the browser logs no error for it.
pub async fn serves_icon(port: u16) -> anyhow::Result<String> {
    let answer = wire::get(port, "/favicon.ico").await?;
    let content_type = answer.header("content-type").unwrap_or_default();
    ensure!(
        answer.status == 200 && content_type.starts_with("image/") && !answer.body.is_empty(),
        "GET /favicon.ico answered {:?} with {content_type:?}, not 200 with an image",
        answer.status_line
    );
    Ok(format!("GET /favicon.ico -> 200, {content_type}"))
}

/// Any other path: 404.
async fn not_found(port: u16) -> anyhow::Result<String> {
    let answer = wire::get(port, "/no-such-page").await?;
    ensure!(
        answer.status == 404,
        "GET /no-such-page answered {:?}, not 404",
        answer.status_line
    );
    Ok("GET /no-such-page -> 404".to_string())
}
