//! Upgrade requests as real clients write them. The other checks send the
//! form of RFC 6455's example, `Connection: Upgrade` exactly, which is
//! what Chromium sends; Firefox, nginx and Node's built-in WebSocket write
//! the same request differently, and HTTP makes every one of these
//! spellings mean the same (header names and the `Upgrade` and
//! `Connection` tokens are case-insensitive; `Connection` is a list).

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::GREETING;
use crate::wire;

/// One way a real client writes the upgrade request.
pub struct Form {
    pub what: &'static str,
    /// The whole request head; `{port}` is the server's port, `{origin}`
    /// the `Origin` the step's own page sends, and `{key}` the key.
    pub request: &'static str,
}

/// A key a client might pick: 16 bytes in base64, other than RFC 6455's
/// sample, so that the accept value proves the server hashed this one.
const KEY: &str = "x3JJHMbDL1EzLkh9GBhXDw==";

pub const FORMS: &[Form] = &[
    Form {
        what: "Firefox's upgrade (`Connection: keep-alive, Upgrade`)",
        request: "GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\
                  User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
                  Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n\
                  Accept-Encoding: gzip, deflate, br, zstd\r\nSec-WebSocket-Version: 13\r\n\
                  Origin: {origin}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\
                  Sec-WebSocket-Key: {key}\r\nConnection: keep-alive, Upgrade\r\n\
                  Sec-Fetch-Dest: empty\r\nSec-Fetch-Mode: websocket\r\nSec-Fetch-Site: same-origin\r\n\
                  Pragma: no-cache\r\nCache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n",
    },
    Form {
        what: "nginx passing an upgrade on (`Connection: upgrade`, lower case)",
        request: "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\n\
                  Connection: upgrade\r\nOrigin: {origin}\r\nSec-WebSocket-Key: {key}\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
    },
    Form {
        what: "Node's built-in WebSocket (header names in lower case)",
        request: "GET / HTTP/1.1\r\nhost: localhost:{port}\r\nconnection: upgrade\r\n\
                  upgrade: websocket\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\
                  sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n\
                  accept: */*\r\naccept-language: *\r\nsec-fetch-mode: websocket\r\n\
                  user-agent: node\r\naccept-encoding: gzip, deflate\r\n\r\n",
    },
    Form {
        what: "`Upgrade: WebSocket`, as the drafts before RFC 6455 spelled it",
        request: "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: WebSocket\r\n\
                  Connection: Upgrade\r\nOrigin: {origin}\r\nSec-WebSocket-Key: {key}\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
    },
];

/// The request head of `form` for a server on `port`.
pub fn request_of(form: &Form, port: u16, origin: &str) -> String {
    form.request
        .replace("{port}", &port.to_string())
        .replace("{origin}", origin)
        .replace("{key}", KEY)
}

/// The request gets 101 with the accept value of its key, then the
/// greeting as the first frame.
pub async fn upgrades(port: u16, what: &str, request: &str) -> anyhow::Result<String> {
    let answer = greeted_after(port, request)
        .await
        .with_context(|| format!("{what}: no 101 and greeting"))?;
    let head = wire::parse_http(&answer)?;
    ensure!(
        head.status == 101,
        "{what}: expected 101 Switching Protocols, got {:?}",
        head.status_line
    );
    let expected = derive_accept_key(KEY.as_bytes());
    let accept = head.header("sec-websocket-accept");
    ensure!(
        accept == Some(expected.as_str()),
        "{what}: Sec-WebSocket-Accept is {accept:?}, not {expected:?} (the hash of its key)"
    );
    Ok(format!("{what} -> 101, then {GREETING:?}"))
}

/// Sends `request` and reads until the greeting frame has arrived after
/// the answer's head, or the server hangs up. Returns all it read.
async fn greeted_after(port: u16, request: &str) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    stream.write_all(request.as_bytes()).await?;
    let greeting = [&[0x81, GREETING.len() as u8][..], GREETING.as_bytes()].concat();
    let mut answer = Vec::new();
    let read = async {
        while !answer.ends_with(&greeting) {
            // Any answer but 101 is complete enough to report.
            if wire::parse_http(&answer).is_ok_and(|head| head.status != 101) {
                return Ok(());
            }
            if stream.read_buf(&mut answer).await? == 0 {
                bail!("the server hung up after {}", wire::printable(&answer));
            }
        }
        Ok(())
    };
    let outcome = timeout(wire::ANSWER_TIMEOUT, read).await;
    match outcome {
        Ok(result) => result?,
        Err(_) => bail!(
            "no greeting within {:?}; the server sent {}",
            wire::ANSWER_TIMEOUT,
            wire::printable(&answer)
        ),
    }
    // The rest of the conversation does not matter here: hang up politely.
    let _ = stream
        .write_all(&wire::masked_frame(0x8, &1000u16.to_be_bytes()))
        .await;
    let _ = timeout(
        Duration::from_millis(500),
        stream.read_to_end(&mut Vec::new()),
    )
    .await;
    Ok(answer)
}
