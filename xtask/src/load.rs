//! `cargo xtask load`: many clients against one server step.

use std::process::ExitCode;

pub fn run(_args: &[String]) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cargo xtask load` is not written yet")
}
