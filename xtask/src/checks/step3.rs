//! Step 3, page and WebSocket on one port: the page, the icon, a 404 for
//! anything else, and the WebSocket on the page's own URL.

use anyhow::ensure;

use super::{
    BROKEN, Sink, broken_rule_is_explained, ctrl_c_says_going_away, explained, greets_and_prints,
    port_taken, start,
};
use crate::steps::{Output, workspace_root};
use crate::wire;

pub async fn run(sink: Sink) {
    let Some(mut server) = start("step3", &sink).await else {
        return;
    };
    let output = &server.output;
    sink.record("step3", serves_page(server.port).await, Some(output));
    sink.record("step3", serves_icon(server.port).await, Some(output));
    sink.record("step3", not_found(server.port).await, Some(output));
    for refusal in REFUSALS {
        sink.record(
            "step3",
            refuses(server.port, refusal, output).await,
            Some(output),
        );
    }
    sink.record(
        "step3",
        greets_and_prints(server.port, output).await,
        Some(output),
    );
    for broken in BROKEN {
        let result = broken_rule_is_explained(server.port, broken).await;
        sink.record("step3", result, Some(output));
    }
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

/// A request step 3 must refuse: an upgrade that is broken (answered as
/// step 1 answers it), one from a page of another origin, and any request
/// sent to a name that is not this machine's (DNS rebinding).
pub struct Refusal {
    pub what: &'static str,
    pub method: &'static str,
    /// `None` sends `Host: localhost:PORT`; a name gets `:PORT` added.
    pub host: Option<&'static str>,
    /// Headers after `Host`; `{port}` is replaced with the server's port
    /// and `{key}` with RFC 6455's sample key.
    pub headers: &'static str,
    pub status: u16,
    pub body: &'static str,
    /// A header the answer must carry, such as the supported version.
    pub header: Option<(&'static str, &'static str)>,
    /// The start of the line the server prints to explain it.
    pub console: &'static str,
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n";

pub const REFUSALS: &[Refusal] = &[
    Refusal {
        what: "an upgrade with POST",
        method: "POST",
        host: None,
        headers: UPGRADE,
        status: 405,
        body: "Invalid HTTP method",
        header: None,
        console: "POST / -> 405 Method Not Allowed (a WebSocket upgrade must use GET)",
    },
    Refusal {
        what: "an upgrade without Sec-WebSocket-Key",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        status: 400,
        body: "Missing or invalid Sec-WebSocket-Key header",
        header: None,
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    Refusal {
        what: "an upgrade with Sec-WebSocket-Version: 8",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 8\r\n",
        status: 400,
        body: "Missing or invalid Sec-WebSocket-Version header",
        header: Some(("Sec-WebSocket-Version", "13")),
        console: "GET / -> 400 Bad Request (WebSocket version is not 13)",
    },
    Refusal {
        what: "Upgrade: h2c",
        method: "GET",
        host: None,
        headers: "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
        status: 400,
        body: "Invalid Upgrade header",
        header: None,
        console: "GET / -> 400 Bad Request (upgrade to something other than websocket)",
    },
    Refusal {
        what: "an upgrade from a page of another origin (http://localhost:1)",
        method: "GET",
        host: None,
        headers: "Origin: http://localhost:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        status: 403,
        body: "WebSocket refused: only this server's own page may open it",
        header: None,
        console: "GET / -> 403 Forbidden (a WebSocket from a page that is not ours: Origin http://localhost:1;",
    },
    Refusal {
        what: "DNS rebinding: an upgrade from attacker.example's own page, sent to attacker.example",
        method: "GET",
        host: Some("attacker.example"),
        headers: "Origin: http://attacker.example:{port}\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
                  Sec-WebSocket-Version: 13\r\n",
        status: 403,
        body: "Refused: this server answers only to localhost, 127.0.0.1 and [::1]",
        header: None,
        console: "GET / -> 403 Forbidden (Host attacker.example:",
    },
    Refusal {
        what: "DNS rebinding: the page asked for as attacker.example",
        method: "GET",
        host: Some("attacker.example"),
        headers: "Accept: text/html\r\n",
        status: 403,
        body: "Refused: this server answers only to localhost, 127.0.0.1 and [::1]",
        header: None,
        console: "GET / -> 403 Forbidden (Host attacker.example:",
    },
];

/// The request gets the expected status, body and header, and the
/// server's console explains it.
pub async fn refuses(port: u16, refusal: &Refusal, output: &Output) -> anyhow::Result<String> {
    let printed_before = output.len();
    let host = refusal.host.unwrap_or("localhost");
    let headers = refusal
        .headers
        .replace("{port}", &port.to_string())
        .replace("{key}", wire::SAMPLE_KEY);
    let request = format!(
        "{} / HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n",
        refusal.method
    );
    let answer = wire::ask(port, request.as_bytes()).await?;
    let mut body = String::from_utf8_lossy(&answer.body).into_owned();
    if body.len() > 80 && body != refusal.body {
        let start: String = body.chars().take(60).collect();
        body = format!("{start}... ({} bytes)", body.len());
    }
    ensure!(
        answer.status == refusal.status && body == refusal.body,
        "{}: expected {} with {:?}, got {:?} with {body:?}",
        refusal.what,
        refusal.status,
        refusal.body,
        answer.status_line
    );
    if let Some((name, value)) = refusal.header {
        let got = answer.header(name);
        ensure!(
            got == Some(value),
            "{}: expected the header {name}: {value}, got {got:?}",
            refusal.what
        );
    }
    explained(output, printed_before, refusal.what, refusal.console).await?;
    Ok(format!("{} -> {}", refusal.what, answer.status_line))
}
