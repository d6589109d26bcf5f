//! Step 1, the WebSocket-only server: it refuses plain HTTP exactly as
//! Node's `ws` does, greets WebSocket clients, and stops cleanly.

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{
    BROKEN, PROMPTLY, Sink, broken_rule_is_explained, ctrl_c_waits, default_port, explained,
    greets_and_prints, handshake_forms, memory_per_connection, port_taken, start,
    stop_says_going_away, stops_its_own_way_at_once,
};
use crate::steps::{Output, Program, Stop};
use crate::wire;

/// A request step 1 must refuse, and the refusal it must send, byte for byte.
pub struct ExpectedRefusal {
    pub what: &'static str,
    pub request: &'static [u8],
    pub answer: &'static str,
    /// The start of the line the server prints to explain it.
    pub console: &'static str,
}

/// The refusals of Node's `ws` 8.23.0 (Node 20), as measured on loopback:
/// the same status lines and bodies, with `Connection: close` where Node
/// keeps the connection alive. Where step 1 is stricter than Node, the
/// reason is beside the request: the 426 names its protocol and lists
/// `upgrade` in `Connection` (RFC 9110, sections 15.5.22 and 7.8), a key
/// must be the base64 of 16 bytes, and a subprotocol, which step 1 does not
/// speak, is refused instead of ignored.
pub const REFUSALS: &[ExpectedRefusal] = &[
    ExpectedRefusal {
        what: "GET / (a browser opening the page)",
        request: b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n",
        answer: "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\
                 Upgrade: websocket\r\nConnection: Upgrade, close\r\n\r\nUpgrade Required",
        console: "GET / -> 426 Upgrade Required (plain HTTP; this server only speaks WebSocket)",
    },
    ExpectedRefusal {
        what: "GET /favicon.ico (the browser asking for the icon)",
        request: b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n",
        answer: "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\
                 Upgrade: websocket\r\nConnection: Upgrade, close\r\n\r\nUpgrade Required",
        console: "GET /favicon.ico -> 426 Upgrade Required (plain HTTP; this server only speaks WebSocket)",
    },
    ExpectedRefusal {
        what: "HEAD /",
        request: b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        answer: "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\
                 Upgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n",
        console: "HEAD / -> 426 Upgrade Required",
    },
    ExpectedRefusal {
        what: "POST / with a form",
        request: b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nx=1",
        answer: "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\
                 Upgrade: websocket\r\nConnection: Upgrade, close\r\n\r\nUpgrade Required",
        console: "POST / -> 426 Upgrade Required",
    },
    ExpectedRefusal {
        what: "an upgrade with POST",
        request: concat!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: ",
            crate::sample_key!(),
            "\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
        answer: "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\
                 Connection: close\r\n\r\nInvalid HTTP method",
        console: "POST / -> 405 Method Not Allowed",
    },
    ExpectedRefusal {
        what: "an upgrade without Sec-WebSocket-Key",
        request:
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Version: 13\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\
                 Connection: close\r\n\r\nMissing or invalid Sec-WebSocket-Key header",
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
        what: "an upgrade whose key is not 16 bytes",
        request:
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\
                 Connection: close\r\n\r\nMissing or invalid Sec-WebSocket-Key header",
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
        what: "an upgrade without Sec-WebSocket-Version",
        request: concat!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: ",
            crate::sample_key!(),
            "\r\n\r\n"
        )
        .as_bytes(),
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 47\r\n\
                 Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n\
                 Missing or invalid Sec-WebSocket-Version header",
        console: "GET / -> 400 Bad Request (WebSocket version is not 13)",
    },
    ExpectedRefusal {
        what: "an upgrade whose key is 24 characters but not the base64 of 16 bytes",
        // The last character carries bits beyond the 16 bytes (`R`, not `Q`).
        request:
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n\
                 Connection: close\r\n\r\nMissing or invalid Sec-WebSocket-Key header",
        console: "GET / -> 400 Bad Request (no valid Sec-WebSocket-Key)",
    },
    ExpectedRefusal {
        what: "an upgrade asking for a subprotocol (new WebSocket(url, 'chat'))",
        request:
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Protocol: chat\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 78\r\n\
                 Connection: close\r\n\r\nThis server speaks plain WebSocket and no subprotocol (Sec-WebSocket-Protocol)",
        console: "GET / -> 400 Bad Request (Sec-WebSocket-Protocol asks for a subprotocol; this server speaks none)",
    },
    ExpectedRefusal {
        what: "Upgrade: h2c",
        request:
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\
                 Connection: close\r\n\r\nInvalid Upgrade header",
        console: "GET / -> 400 Bad Request",
    },
    ExpectedRefusal {
        what: "bytes that are not HTTP",
        request: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n",
        answer: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
        console: "? ? -> 400 Bad Request (not an HTTP request)",
    },
    ExpectedRefusal {
        what: "a 20 KB header",
        request: b"",
        answer: "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
        console: "? ? -> 431 Request Header Fields Too Large",
    },
];

/// A valid upgrade with the sample key of RFC 6455, section 1.3.
const SAMPLE_UPGRADE: &[u8] = concat!(
    "GET /chat?x=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: ",
    crate::sample_key!(),
    "\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
.as_bytes();

/// The handshake answer for that key, then the greeting as one text frame:
/// 0x81 (final frame, text), 0x11 (17 bytes, unmasked), the 17 bytes.
fn sample_answer() -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        wire::SAMPLE_ACCEPT
    );
    [
        head.as_bytes(),
        &wire::encode(0x81, None, wire::GREETING.as_bytes()),
    ]
    .concat()
}

/// Step 1's first listing, `cargo run -p step1 --example minimal`: the
/// tutorial's server line for line. It greets and prints like step 1, but
/// a plain `GET /` gets no HTTP answer at all, where step 1 answers 426.
pub async fn minimal_example(sink: &Sink) {
    let program = Program::example("minimal");
    let server = match program.start(&[]).await {
        Ok(server) => server,
        Err(error) => {
            sink.record(
                "step1",
                Err(error.context("the example minimal did not start")),
                None,
            );
            return;
        }
    };
    let output = &server.output;
    let greets = greets_and_prints(server.port, output).await;
    let greets = greets.map(|seen| format!("the example minimal: {seen}"));
    sink.record("step1", greets, Some(output));
    sink.record("step1", no_http_answer(server.port).await, Some(output));
}

/// A browser asking the example for a page gets nothing back: tungstenite's
/// `accept_async` hangs up without an HTTP answer.
async fn no_http_answer(port: u16) -> anyhow::Result<String> {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n";
    let answer = wire::exchange(port, request).await;
    if let Ok(answer) = &answer {
        ensure!(
            answer.is_empty(),
            "the example minimal answered a plain GET / with {}",
            wire::printable(answer)
        );
    }
    Ok(
        "the example minimal: a plain GET / gets no HTTP answer, the connection just ends"
            .to_string(),
    )
}

pub async fn run(sink: Sink) {
    minimal_example(&sink).await;
    let Some(mut server) = start("step1", &sink).await else {
        return;
    };
    let output = &server.output;
    for refusal in REFUSALS {
        sink.record(
            "step1",
            refuses(server.port, refusal, output).await,
            Some(output),
        );
    }
    sink.record("step1", handshake_bytes(server.port).await, Some(output));
    for form in handshake_forms::FORMS {
        let request = handshake_forms::request_of(form, server.port, "null");
        let result = handshake_forms::upgrades(server.port, form.what, &request).await;
        sink.record("step1", result, Some(output));
    }
    sink.record(
        "step1",
        greets_and_prints(server.port, output).await,
        Some(output),
    );
    for broken in BROKEN {
        let result = broken_rule_is_explained(server.port, broken).await;
        sink.record("step1", result, Some(output));
    }
    sink.record(
        "step1",
        port_taken("step1", server.port).await,
        Some(output),
    );
    let result = stop_says_going_away(&mut server, Stop::CtrlC).await;
    sink.record("step1", result, Some(&server.output));
    if let Some(mut server) = start("step1", &sink).await {
        let result = stop_says_going_away(&mut server, Stop::Terminate).await;
        sink.record("step1", result, Some(&server.output));
    }
    for how in [Stop::CtrlC, Stop::Terminate] {
        let result = stops_its_own_way_at_once("step1", how).await;
        sink.record("step1", result, None);
    }
    let default = default_port::tried_without_port("step1").await;
    sink.record("step1", default, None);
    ctrl_c_waits::run("step1", &sink).await;
    memory_per_connection::run("step1", &sink).await;
}

/// The request gets exactly the expected answer, and the server's console
/// explains it.
pub async fn refuses(
    port: u16,
    refusal: &ExpectedRefusal,
    output: &Output,
) -> anyhow::Result<String> {
    let printed_before = output.len();
    let request = if refusal.request.is_empty() {
        format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Large: {}\r\n\r\n",
            "a".repeat(20_000)
        )
        .into_bytes()
    } else {
        refusal.request.to_vec()
    };
    let answer = wire::exchange(port, &request)
        .await
        .with_context(|| refusal.what)?;
    ensure!(
        answer == refusal.answer.as_bytes(),
        "{}: expected {}\n      but got {}",
        refusal.what,
        wire::printable(refusal.answer.as_bytes()),
        wire::printable(&answer)
    );
    explained(output, printed_before, refusal.what, refusal.console).await?;
    let status_line = refusal.answer.lines().next().unwrap_or_default();
    Ok(format!("{} -> {status_line}", refusal.what))
}

/// The handshake answer and the greeting frame, byte for byte.
async fn handshake_bytes(port: u16) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(SAMPLE_UPGRADE).await?;
    let expected = sample_answer();
    let mut answer = vec![0; expected.len()];
    timeout(PROMPTLY, stream.read_exact(&mut answer))
        .await
        .context("no complete handshake answer and greeting in time")??;
    ensure!(
        answer == expected,
        "expected {}\n      but got {}",
        wire::printable(&expected),
        wire::printable(&answer)
    );
    Ok(format!(
        "upgrade with the RFC 6455 sample key -> 101, Sec-WebSocket-Accept {}, \
         then the frame 81 11 \"Hello, WebSocket!\"",
        wire::SAMPLE_ACCEPT
    ))
}
