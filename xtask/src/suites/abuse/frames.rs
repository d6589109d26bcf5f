//! Abuse on an open WebSocket: broken frames and oversized messages, each
//! answered with the close code RFC 6455 gives.

use anyhow::{Context, ensure};
use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{frame, on_both_steps, still_greets, wait_until_none_open};
use crate::wire::{self, PROMPTLY};

/// Sends `bytes` on a fresh WebSocket and returns the code of the close
/// frame the server answers with.
async fn close_code_after(port: u16, bytes: &[u8]) -> anyhow::Result<u16> {
    let mut stream = wire::greeted_raw(port).await?;
    stream.write_all(bytes).await?;
    loop {
        let (opcode, payload) = wire::read_frame(&mut stream, PROMPTLY)
            .await
            .context("the server did not send a close frame")?;
        if opcode == 8 {
            ensure!(payload.len() >= 2, "a close frame without a code");
            return Ok(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// What RFC 6455 says a server must answer to each kind of broken frame.
fn broken_frames() -> Vec<(&'static str, Vec<u8>, CloseCode)> {
    let big = vec![b'a'; 64 * 1024 + 1];
    let half = vec![b'a'; 40 * 1024];
    vec![
        (
            "an unmasked client frame",
            frame(0x81, false, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "reserved bit 1 set",
            frame(0xc1, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "reserved bit 3 set",
            frame(0x91, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "unknown data opcode 3",
            frame(0x83, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "unknown control opcode 11",
            frame(0x8b, true, b""),
            CloseCode::Protocol,
        ),
        (
            "a fragmented ping",
            frame(0x09, true, b"ping"),
            CloseCode::Protocol,
        ),
        (
            "a ping of 126 bytes",
            frame(0x89, true, &[b'p'; 126]),
            CloseCode::Protocol,
        ),
        (
            "a continuation with no start",
            frame(0x80, true, b"hello"),
            CloseCode::Protocol,
        ),
        (
            "text that is not UTF-8",
            frame(0x81, true, b"caf\xe9"),
            CloseCode::Invalid,
        ),
        (
            "a message of 64 KiB + 1",
            frame(0x81, true, &big),
            CloseCode::Size,
        ),
        (
            "two fragments of 40 KiB",
            [frame(0x01, true, &half), frame(0x80, true, &half)].concat(),
            CloseCode::Size,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_frames_close_with_the_code_rfc_6455_gives() {
    on_both_steps(|server| {
        Box::pin(async move {
            let cases = broken_frames();
            let answers = join_all(
                cases
                    .iter()
                    .map(|(_, bytes, _)| close_code_after(server.port, bytes)),
            )
            .await;
            let mut wrong = Vec::new();
            for ((what, _, expected), answer) in cases.iter().zip(answers) {
                let expected = u16::from(*expected);
                match answer {
                    Ok(code) if code == expected => {}
                    Ok(code) => wrong.push(format!("{what}: close code {code}, not {expected}")),
                    Err(error) => wrong.push(format!("{what}: {error:#}")),
                }
            }
            ensure!(wrong.is_empty(), "{}", wrong.join("; "));
            still_greets(server.port).await?;
            wait_until_none_open(&server.output).await
        })
    })
    .await;
}
