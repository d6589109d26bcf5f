//! What `cargo xtask verify` checks, one module per step.
//!
//! A check is an async function that returns what it saw (`Ok`) or what
//! was wrong (`Err`). Checks take a port, not a process, so the tests can
//! point them at deliberately wrong servers and see them fail.

pub mod browser;
pub mod ctrl_c_waits;
pub mod default_port;
pub mod handshake_forms;
pub mod memory_per_connection;
#[cfg(test)]
mod shared_code;
pub mod step1;
pub mod step2;
pub mod step3;
pub mod step4;

#[cfg(test)]
mod small_bugs_tests;
#[cfg(test)]
mod tests;

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub use crate::runner::Sink;
use crate::steps::{Output, Running, Stop, run_to_end};
use crate::wire;

pub use crate::wire::{GREETING, PROMPTLY};

/// Starts a server step, recording a failure when it cannot start.
pub async fn start(package: &str, sink: &Sink) -> Option<Running> {
    match Running::start(package).await {
        Ok(server) => Some(server),
        Err(error) => {
            sink.record(
                package,
                Err(error.context(format!("{package} did not start"))),
                None,
            );
            None
        }
    }
}

/// A WebSocket client on `/` is greeted at once, and what it sends appears
/// in the server's output as `Received: ...`.
pub async fn greets_and_prints(port: u16, output: &Output) -> anyhow::Result<String> {
    let mut socket = wire::greeted(port, PROMPTLY).await?;
    let printed_before = output.len();
    socket.send(Message::text(GREETING)).await?;
    let expected = format!("Received: {GREETING}");
    let printed = output
        .wait_for(printed_before, PROMPTLY, |line| line == expected)
        .await;
    ensure!(
        printed.is_some(),
        "the server did not print {expected:?} after we sent {GREETING:?}"
    );
    let _ = socket.close(None).await;
    Ok(format!(
        "WebSocket on / greeted {GREETING:?}; the server printed {expected:?}"
    ))
}

/// A second copy of a step on a port that is in use explains itself in one
/// line and exits with status 1.
pub async fn port_taken(package: &str, port: u16) -> anyhow::Result<String> {
    let port_text = port.to_string();
    let run = run_to_end(package, &[], &[("PORT", &port_text)], wire::ANSWER_TIMEOUT).await?;
    let lines = run.output.lines();
    let expected = format!("port {port} is already in use");
    ensure!(
        run.status.code() == Some(1),
        "exit status {} instead of 1; it printed {lines:?}",
        run.status
    );
    ensure!(
        lines
            .iter()
            .any(|line| line.contains(&expected) && line.contains("PORT=")),
        "no line saying {expected:?} with the PORT= way out; it printed {lines:?}"
    );
    ensure!(
        !lines.iter().any(|line| line.contains("panicked")),
        "it panicked: {lines:?}"
    );
    Ok(format!(
        "a second copy on port {port} says {:?}, exit 1",
        lines.join(" ")
    ))
}

/// Ctrl+C, and SIGTERM as `docker stop`, systemd and Kubernetes send it,
/// close every open WebSocket with 1001 (going away), then the process
/// exits with status 0. This stops the server.
pub async fn stop_says_going_away(server: &mut Running, how: Stop) -> anyhow::Result<String> {
    let mut socket = wire::greeted(server.port, PROMPTLY).await?;
    server.stop(how)?;
    let message = wire::next_message(&mut socket, PROMPTLY)
        .await
        .with_context(|| format!("no close frame after {how}"))?;
    let Message::Close(Some(frame)) = message else {
        bail!("after {how} the client got {message:?}, not a close frame with code 1001");
    };
    ensure!(
        frame.code == CloseCode::Away,
        "after {how}: close code {} instead of 1001",
        u16::from(frame.code)
    );
    // Reading on sends our answer to the close frame, as a browser does.
    let _ = tokio::time::timeout(PROMPTLY, async { while socket.next().await.is_some() {} }).await;
    let Some(status) = server.exit_status(PROMPTLY).await else {
        bail!("the process did not exit within {PROMPTLY:?} of {how}");
    };
    ensure!(
        status.success(),
        "the process exited with {status} after {how}, not 0"
    );
    Ok(format!(
        "{how}: the open WebSocket got close 1001 (going away), exit 0"
    ))
}

/// A server told to stop the moment it has printed its address still stops
/// its own way (its "Shutting down" line, exit 0), rather than being ended
/// by the signal: it listens for Ctrl+C and SIGTERM before it says where it
/// listens, so a learner's quick Ctrl+C, or a supervisor's SIGTERM right
/// after a start, is never a silent kill.
pub async fn stops_its_own_way_at_once(package: &str, how: Stop) -> anyhow::Result<String> {
    let mut server = Running::start(package).await?;
    server.stop(how)?;
    let Some(status) = server.exit_status(PROMPTLY).await else {
        bail!("the process did not exit within {PROMPTLY:?} of {how} sent as it started");
    };
    ensure!(
        status.success(),
        "{how} sent right after the address was printed ended the process ({status}) before \
         it listened for the signal; listen for it before printing the address"
    );
    let said = server
        .output
        .wait_for(0, PROMPTLY, |line| line.starts_with("Shutting down"))
        .await;
    ensure!(
        said.is_some(),
        "the process exited 0 after {how} without printing its \"Shutting down\" line"
    );
    Ok(format!(
        "{how} right after the address was printed: \"Shutting down\" and exit 0"
    ))
}

/// A rule a client can break, and the close code that must explain it.
pub struct Broken {
    pub what: &'static str,
    /// The frames the client sends after the greeting, masked as a
    /// client's must be.
    pub frames: fn() -> Vec<u8>,
    pub code: u16,
}

/// The rules both server steps enforce: a message over 64 KiB (1009), and
/// text that is not UTF-8 followed by more data (1007).
pub const BROKEN: &[Broken] = &[
    Broken {
        what: "a 100,000-byte message",
        frames: || wire::masked_frame(0x1, &[b'a'; 100_000]),
        code: 1009,
    },
    Broken {
        what: "text that is not UTF-8, then more data",
        frames: || {
            let mut frames = wire::masked_frame(0x1, &[0xff, 0xfe, 0xfd]);
            frames.extend(wire::masked_frame(0x2, &[0; 20_000]));
            frames
        },
        code: 1007,
    },
];

/// A client that breaks a rule hears why: the server's close frame, with
/// the code RFC 6455 gives, arrives whole although the client was still
/// sending, and after the client's own close frame the server hangs up
/// cleanly. Closing with unread bytes would make the system reset the
/// connection and destroy the close frame, and a browser would report 1006.
pub async fn broken_rule_is_explained(port: u16, broken: &Broken) -> anyhow::Result<String> {
    let mut stream = wire::greeted_raw(port).await?;
    let sent = stream.write_all(&(broken.frames)()).await;
    ensure!(
        sent.is_ok(),
        "{}: the connection broke while the client was still sending ({sent:?})",
        broken.what
    );
    let (code, reason) = wire::read_close_frame(&mut stream)
        .await
        .with_context(|| format!("{}: no close frame", broken.what))?;
    ensure!(
        code == broken.code,
        "{}: close code {code} ({reason:?}), not {}",
        broken.what,
        broken.code
    );
    let answered = stream
        .write_all(&wire::masked_frame(0x8, &code.to_be_bytes()))
        .await;
    ensure!(
        answered.is_ok(),
        "{}: the server reset the connection instead of waiting for our close frame ({answered:?})",
        broken.what
    );
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(PROMPTLY, stream.read_to_end(&mut rest)).await;
    ensure!(
        matches!(ended, Ok(Ok(_))),
        "{}: after both close frames the server did not hang up cleanly within {PROMPTLY:?}: {ended:?}",
        broken.what
    );
    Ok(format!(
        "{} -> close frame {code} ({reason:?}), delivered whole, then a clean hang-up",
        broken.what
    ))
}

/// The server explains a refusal on its console: a line starting with
/// `console`, printed after its first `printed_before` lines.
pub async fn explained(
    output: &Output,
    printed_before: usize,
    what: &str,
    console: &str,
) -> anyhow::Result<()> {
    let line = output
        .wait_for(printed_before, PROMPTLY, |line| line.starts_with(console))
        .await;
    ensure!(
        line.is_some(),
        "{what}: the server did not print a line starting {console:?}"
    );
    Ok(())
}

#[cfg(test)]
/// The check failed, and its message says each of `expected`.
pub(crate) fn assert_fails(result: anyhow::Result<String>, expected: &[&str]) {
    let problem = match result {
        Ok(seen) => panic!("the check passed, but it should fail: {seen}"),
        Err(problem) => format!("{problem:#}"),
    };
    for expected in expected {
        assert!(
            problem.contains(expected),
            "the check failed, but without saying {expected:?}: {problem}"
        );
    }
}
