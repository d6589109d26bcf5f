//! Step 2, the browser player: against step 1 it reports the tutorial's two
//! 426 errors and a working WebSocket; against step 3, the page and the
//! WebSocket both working.

use std::time::Duration;

use anyhow::ensure;

use super::{GREETING, PROMPTLY, Sink, start};
use crate::steps::{Finished, run_to_end};

/// Enough for two requests and a round trip, with room for a slow machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(sink: Sink) {
    let (against_step1, against_step3, nothing) = tokio::join!(
        against("step1", &sink),
        against("step3", &sink),
        nothing_listening()
    );
    if let Some((result, server_output)) = against_step1 {
        sink.record("step2", result, Some(&server_output));
    }
    if let Some((result, server_output)) = against_step3 {
        sink.record("step2", result, Some(&server_output));
    }
    sink.record("step2", nothing, None);
}

/// Runs step 2 against a fresh copy of a server step and checks its report.
async fn against(
    server_package: &str,
    sink: &Sink,
) -> Option<(anyhow::Result<String>, crate::steps::Output)> {
    let server = start(server_package, sink).await?;
    let port = server.port.to_string();
    let address = format!("http://localhost:{port}");
    // Against step 1 through PORT, against step 3 through the argument:
    // both ways a learner may pick a server.
    let run = if server_package == "step1" {
        run_to_end("step2", &[], &[("PORT", &port)], RUN_TIMEOUT).await
    } else {
        run_to_end("step2", &[&address], &[], RUN_TIMEOUT).await
    };
    let result = match run {
        Ok(run) => check_report(server_package, &run, &server.output).await,
        Err(error) => Err(error),
    };
    Some((result, server.output.clone()))
}

async fn check_report(
    server_package: &str,
    run: &Finished,
    server_output: &crate::steps::Output,
) -> anyhow::Result<String> {
    let lines = run.output.lines();
    let report = lines.join("\n");
    ensure!(
        run.status.success(),
        "step2 against {server_package} exited with {}:\n{report}",
        run.status
    );
    let has = |wanted: &str| lines.iter().any(|line| line.contains(wanted));
    let (status, next_step) = match server_package {
        "step1" => ("426 (Upgrade Required)", "cargo run -p step3"),
        _ => ("200 (OK)", "in a browser"),
    };
    for wanted in [
        format!("GET /            -> {status}"),
        format!("GET /favicon.ico -> {status}"),
        format!("Received: {GREETING}"),
        next_step.to_string(),
    ] {
        ensure!(
            has(&wanted),
            "step2 against {server_package} does not report {wanted:?}:\n{report}"
        );
    }
    let expected = format!("Received: {GREETING}");
    let printed = server_output
        .wait_for(0, PROMPTLY, |line| line == expected)
        .await;
    ensure!(
        printed.is_some(),
        "{server_package} did not print {expected:?} for step2's message"
    );
    Ok(format!(
        "against {server_package}: page and icon {status}, round trip \"Received: {GREETING}\", points to {next_step:?}"
    ))
}

/// With no server, step 2 says to start one, and exits with status 1.
async fn nothing_listening() -> anyhow::Result<String> {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port()
        .to_string();
    let run = run_to_end("step2", &[], &[("PORT", &free_port)], RUN_TIMEOUT).await?;
    let lines = run.output.lines();
    ensure!(
        run.status.code() == Some(1),
        "exit status {} instead of 1: {lines:?}",
        run.status
    );
    ensure!(
        lines.iter().any(
            |line| line.contains("nothing is listening") && line.contains("cargo run -p step1")
        ),
        "no line saying nothing is listening and to start step 1: {lines:?}"
    );
    ensure!(
        !lines.iter().any(|line| line.contains("panicked")),
        "it panicked: {lines:?}"
    );
    Ok("with no server: \"nothing is listening ... start a server first (cargo run -p step1 ...)\", exit 1".to_string())
}
