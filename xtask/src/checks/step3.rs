//! Step 3, page and WebSocket on one port: the page, the icon, a 404 for
//! anything else, and the WebSocket on the page's own URL.

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{
    BROKEN, PROMPTLY, Sink, broken_rule_is_explained, ctrl_c_waits, default_port, explained,
    greets_and_prints, handshake_forms, memory_per_connection, port_taken, start,
    stop_says_going_away, stops_its_own_way_at_once,
};
use crate::steps::{Output, Stop, workspace_root};
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
    sink.record("step3", https_page_is_ours(server.port).await, Some(output));
    let own_page = format!("http://localhost:{}", server.port);
    for form in handshake_forms::FORMS {
        let request = handshake_forms::request_of(form, server.port, &own_page);
        let result = handshake_forms::upgrades(server.port, form.what, &request).await;
        sink.record("step3", result, Some(output));
    }
    for broken in BROKEN {
        let result = broken_rule_is_explained(server.port, broken).await;
        sink.record("step3", result, Some(output));
    }
    sink.record(
        "step3",
        port_taken("step3", server.port).await,
        Some(output),
    );
    let result = stop_says_going_away(&mut server, Stop::CtrlC).await;
    sink.record("step3", result, Some(&server.output));
    if let Some(mut server) = start("step3", &sink).await {
        let result = stop_says_going_away(&mut server, Stop::Terminate).await;
        sink.record("step3", result, Some(&server.output));
    }
    for how in [Stop::CtrlC, Stop::Terminate] {
        let result = stops_its_own_way_at_once("step3", how).await;
        sink.record("step3", result, None);
    }
    let default = default_port::tried_without_port("step3").await;
    sink.record("step3", default, None);
    ctrl_c_waits::run("step3", &sink).await;
    memory_per_connection::run("step3", &sink).await;
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

/// The Origin check compares host and port, not the scheme: our own page,
/// served over https by a proxy that speaks TLS in front of step 3, sends
/// `Origin: https://localhost:PORT` and is let in.
async fn https_page_is_ours(port: u16) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = wire::upgrade_request(port).replacen(
        "\r\nUpgrade:",
        &format!("\r\nOrigin: https://localhost:{port}\r\nUpgrade:"),
        1,
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let read = async {
        while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
            if stream.read_buf(&mut answer).await? == 0 {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    };
    timeout(PROMPTLY, read)
        .await
        .context("no answer to an upgrade from an https page in time")??;
    ensure!(
        answer.starts_with(b"HTTP/1.1 101 "),
        "an upgrade with Origin: https://localhost:{port} got {}, not 101",
        wire::printable(&answer)
    );
    Ok(format!(
        "an upgrade with Origin: https://localhost:{port} (the page behind a TLS proxy) -> 101"
    ))
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
pub struct ExpectedRefusal {
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

pub const REFUSALS: &[ExpectedRefusal] = &[
    ExpectedRefusal {
        what: "an upgrade with POST",
        method: "POST",
        host: None,
        headers: UPGRADE,
        status: 405,
        body: "Invalid HTTP method",
        header: None,
        console: "POST / -> 405 Method Not Allowed (a WebSocket upgrade must use GET)",
    },
    ExpectedRefusal {
        what: "an upgrade without Sec-WebSocket-Key",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
        status: 400,
        body: "Missing or invalid Sec-WebSocket-Key header",
        header: None,
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
        what: "an upgrade whose key is not 16 bytes (c2hvcnQ=)",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\
                  Sec-WebSocket-Version: 13\r\n",
        status: 400,
        body: "Missing or invalid Sec-WebSocket-Key header",
        header: None,
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
        what: "an upgrade whose key is 24 characters but not the base64 of 16 bytes",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n",
        status: 400,
        body: "Missing or invalid Sec-WebSocket-Key header",
        header: None,
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
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
    ExpectedRefusal {
        what: "an upgrade asking for a subprotocol (new WebSocket(url, 'chat'))",
        method: "GET",
        host: None,
        headers: "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Protocol: chat\r\n",
        status: 400,
        body: "This server speaks plain WebSocket and no subprotocol (Sec-WebSocket-Protocol)",
        header: None,
        console: "GET / -> 400 Bad Request (Sec-WebSocket-Protocol asks for a subprotocol; this server speaks none)",
    },
    ExpectedRefusal {
        what: "Upgrade: h2c",
        method: "GET",
        host: None,
        headers: "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
        status: 400,
        body: "Invalid Upgrade header",
        header: None,
        console: "GET / -> 400 Bad Request (upgrade to something other than websocket)",
    },
    ExpectedRefusal {
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
    ExpectedRefusal {
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
    ExpectedRefusal {
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
pub async fn refuses(
    port: u16,
    refusal: &ExpectedRefusal,
    output: &Output,
) -> anyhow::Result<String> {
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
