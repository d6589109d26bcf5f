//! Tests: nothing a client does takes a server step down.
//!
//! Each test starts fresh copies of step 1 and step 3 as real processes on
//! free loopback ports and runs the same check against both side by side:
//! bad bytes, cut-off and endless requests, idle crowds, oversized heads and
//! messages, broken frames, clients that vanish, 2,000 clients at once, and
//! Ctrl+C with 100 clients. Every check has a time limit, and all traffic
//! goes to 127.0.0.1.
//!
//! This file holds what the checks share: the runner that starts the
//! steps, and the helpers more than one group uses (a new client is still
//! greeted, a client frame, no connection left open). The checks are
//! grouped by kind of abuse:
//!
//! - `requests`: bytes that are not HTTP, cut-off, oversized, idle and slow
//!   requests;
//! - `frames`: broken WebSocket frames and oversized messages;
//! - `connections`: clients that vanish, 2,000 clients at once, and Ctrl+C
//!   with 100 clients;
//! - `reach`: who can reach a step (loopback unless `HOST` says otherwise)
//!   and step 3's `Origin` and `Host` checks.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::{BoxFuture, join_all};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

use crate::steps::{self, Output, Running};
use crate::wire::{self, PROMPTLY};

#[path = "abuse/connections.rs"]
mod connections;
#[path = "abuse/frames.rs"]
mod frames;
#[path = "abuse/reach.rs"]
mod reach;
#[path = "abuse/requests.rs"]
mod requests;

const SERVER_STEPS: [&str; 2] = ["step1", "step3"];

/// The handshake timeout of both steps (`HANDSHAKE_TIMEOUT` in their code).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// No check may run longer than this, however the server behaves.
const CHECK_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs `check` against a fresh copy of step 1 and of step 3 side by side,
/// and fails with what went wrong on each, and the end of its output.
async fn on_both_steps<Check>(check: Check)
where
    Check: for<'a> Fn(&'a mut Running) -> BoxFuture<'a, anyhow::Result<()>>,
{
    on_steps(&SERVER_STEPS, check).await;
}

async fn on_steps<Check>(packages: &[&str], check: Check)
where
    Check: for<'a> Fn(&'a mut Running) -> BoxFuture<'a, anyhow::Result<()>>,
{
    steps::build().expect("the steps build");
    let runs = packages.iter().map(|&package| {
        let check = &check;
        async move {
            let mut server = match Running::start(package).await {
                Ok(server) => server,
                Err(error) => return Some(format!("{package} did not start: {error:#}")),
            };
            let problem = match timeout(CHECK_TIMEOUT, check(&mut server)).await {
                Ok(Ok(())) => return None,
                Ok(Err(error)) => format!("{error:#}"),
                Err(_) => format!("the check did not finish within {CHECK_TIMEOUT:?}"),
            };
            Some(format!(
                "{package}: {problem}\n{}",
                last_lines(&server.output)
            ))
        }
    });
    let problems: Vec<String> = join_all(runs).await.into_iter().flatten().collect();
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

fn last_lines(output: &Output) -> String {
    let shown: Vec<String> = output
        .last(15)
        .iter()
        .map(|line| format!("    | {line}"))
        .collect();
    format!("  the last lines it printed:\n{}", shown.join("\n"))
}

/// A new client is greeted at once: the server is still serving.
async fn still_greets(port: u16) -> anyhow::Result<()> {
    let mut socket = timeout(PROMPTLY, wire::greeted(port, PROMPTLY))
        .await
        .context("a new client could not even connect at once")?
        .context("a new client was not greeted at once")?;
    let _ = socket.close(None).await;
    Ok(())
}

/// Reads until the server closes the connection, within `wait`, and
/// returns what it sent. A reset counts as closed too.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> anyhow::Result<Vec<u8>> {
    let mut answer = Vec::new();
    match timeout(wait, stream.read_to_end(&mut answer)).await {
        Ok(_) => Ok(answer),
        Err(_) => bail!(
            "the server kept the connection open for {wait:?}; it sent {}",
            wire::printable(&answer)
        ),
    }
}

/// A client frame: `first` holds FIN, the reserved bits and the opcode.
/// `masked` frames use the mask 0, which leaves the payload as it is.
fn frame(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    wire::encode(first, masked.then_some([0; 4]), payload)
}

/// Waits until every connection the server logged as `Connected:` has
/// also been logged as `Disconnected:`: no connection task is left.
///
/// The `(N open)` counts themselves are snapshots: two connections ending
/// at once may print theirs in either order, so the last line need not say
/// `(0 open)` even when none is open.
async fn wait_until_none_open(output: &Output) -> anyhow::Result<()> {
    let deadline = Instant::now() + PROMPTLY * 2;
    loop {
        let lines = output.lines();
        let count = |prefix: &str| lines.iter().filter(|line| line.starts_with(prefix)).count();
        let (connected, disconnected) = (count("Connected: "), count("Disconnected: "));
        if connected == disconnected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{connected} connections were logged as connected but only {disconnected} as disconnected"
            );
        }
        sleep(Duration::from_millis(50)).await;
    }
}
