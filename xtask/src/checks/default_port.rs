//! The port a learner gets without asking: 8080, as the README, the
//! chapters and the page all say. Every other check sets `PORT`, so this
//! one is the only run of a step without it.
//!
//! Letting the step take port 8080 for real would collide with a server
//! the learner has running there, and would fail whenever one is. So the
//! step is started with `HOST` set to 192.0.2.1, an address reserved for
//! documentation (RFC 5737) that no machine has: it cannot listen there,
//! and its refusal names the address and the port it tried. Nothing is
//! bound and nothing is sent.

use anyhow::{Context, ensure};

use crate::course::DEFAULT_PORT;
use crate::steps::{Program, run_program_to_end};
use crate::wire;

/// An address no machine has (TEST-NET-1, RFC 5737).
const NO_SUCH_ADDRESS: &str = "192.0.2.1";

/// Without `PORT`, the step tries port 8080.
pub async fn tried_without_port(package: &str) -> anyhow::Result<String> {
    tried_by(&Program::of(package)).await
}

/// Without `PORT`, `program` tries port 8080.
pub async fn tried_by(program: &Program) -> anyhow::Result<String> {
    let run = run_program_to_end(
        program,
        &[],
        &[("HOST", NO_SUCH_ADDRESS)],
        wire::ANSWER_TIMEOUT,
    )
    .await
    .with_context(|| {
        format!("with HOST={NO_SUCH_ADDRESS}, an address this machine does not have, it should have stopped at once")
    })?;
    let lines = run.output.lines();
    let names_port = |line: &&String| {
        line.contains(&format!("port {DEFAULT_PORT}"))
            || line.contains(&format!("{NO_SUCH_ADDRESS}:{DEFAULT_PORT}"))
    };
    let Some(line) = lines.iter().find(names_port) else {
        let port = |line: &&String| line.contains("port ") || line.contains(NO_SUCH_ADDRESS);
        anyhow::bail!(
            "without PORT it does not try port {DEFAULT_PORT}, the port the README, the chapters \
             and the page name: with HOST={NO_SUCH_ADDRESS} it printed {:?}",
            lines.iter().filter(port).collect::<Vec<_>>()
        );
    };
    ensure!(
        run.status.code() == Some(1),
        "with HOST={NO_SUCH_ADDRESS} it exited with {} instead of 1; it printed {lines:?}",
        run.status
    );
    Ok(format!(
        "without PORT it tries port {DEFAULT_PORT}: with HOST={NO_SUCH_ADDRESS} (no machine's address) it says {line:?}, exit 1"
    ))
}
