//! What an open connection costs a server step. Each step sets
//! tungstenite's read buffer to 512 bytes; left at its default of
//! 128 KiB, every connection would hold fifty times the memory, and
//! everything would still work. A loose bound catches that on any machine:
//! `cargo xtask load` measures about 3 KiB a connection in the release
//! build, the debug build that verify runs takes a few KiB more, and the
//! bound is 16 KiB.
//!
//! The server's memory is read from Linux's /proc; elsewhere the check is
//! skipped.

use std::time::Duration;

use anyhow::{Context, ensure};

use super::Sink;
use crate::crowd;
use crate::steps::{Output, Running};

/// Enough connections that the allocator's own start-up costs are spread
/// thin, few enough for the usual limit of 1,024 open files: each is a
/// socket in verify, which measures step 1 and step 3 at once, and one in
/// the server.
const CLIENTS: usize = 250;

/// Two to four times what a connection of the debug build costs, an eighth
/// of what tungstenite's default read buffer alone takes.
const BOUND_KIB: f64 = 16.0;

/// How long the server may take to print every client's message.
const PRINT_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a fresh `package` process, opens `CLIENTS` WebSockets that each
/// send a message, and compares what the server holds then with what it
/// held before.
pub async fn run(package: &str, sink: &Sink) {
    if !cfg!(target_os = "linux") {
        sink.skip(
            package,
            "memory per connection: it reads the server's memory from /proc, which only Linux has"
                .to_string(),
        );
        return;
    }
    match Running::start(package).await {
        Ok(server) => {
            let result = per_connection(&server).await;
            sink.record(package, result, Some(&server.output));
        }
        Err(error) => sink.record(package, Err(error.context("it did not start")), None),
    }
}

pub async fn per_connection(server: &Running) -> anyhow::Result<String> {
    let pid = server.pid().context("the server has already ended")?;
    let before = crowd::resident_memory_kib(pid)?;
    let crowd = crowd::gather_and_hold(server.port, CLIENTS, 50, |_, _| {}).await;
    let greeted = crowd.gathering.greeted;
    let failures = crowd.gathering.failures.clone();
    let heard = all_printed(&server.output, greeted).await;
    let holding = crowd::resident_memory_kib(pid)?;
    crowd.leave().await;
    ensure!(
        greeted == CLIENTS,
        "memory per connection: only {greeted} of {CLIENTS} clients were greeted: {failures:?}"
    );
    ensure!(
        heard,
        "memory per connection: the server did not print all {CLIENTS} messages within {PRINT_TIMEOUT:?}"
    );
    let per_connection = holding.saturating_sub(before) as f64 / CLIENTS as f64;
    ensure!(
        per_connection < BOUND_KIB,
        "memory per connection: {per_connection:.1} KiB with {CLIENTS} open ({before} KiB before, \
         {holding} KiB after), over the {BOUND_KIB} KiB bound; a read buffer left at tungstenite's \
         128 KiB default does this (READ_BUFFER_SIZE in the step's handshake module)"
    );
    Ok(format!(
        "memory per connection: {per_connection:.1} KiB with {CLIENTS} open (bound {BOUND_KIB} KiB; \
         tungstenite's default read buffer alone would be 128)"
    ))
}

/// Whether the server printed a `Received: client ...` line for each of
/// the `greeted` clients in time: then each connection has read a message.
async fn all_printed(output: &Output, greeted: usize) -> bool {
    let count = || {
        output
            .lines()
            .iter()
            .filter(|line| line.starts_with("Received: client "))
            .count()
    };
    let wait = async {
        while count() < greeted {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(PRINT_TIMEOUT, wait).await.is_ok()
}
