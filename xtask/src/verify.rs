//! `cargo xtask verify`: builds the steps, runs each one as a real process
//! on a free port, and checks what it does over real sockets.
//!
//! The steps are checked side by side; every check prints one line as it
//! finishes, and the last line counts them.

use std::process::ExitCode;

use anyhow::bail;
use tokio::task::JoinSet;

use crate::checks::{self, Sink};
use crate::report::Report;
use crate::{docs, steps};

struct Options {
    /// Only this step, when `--step N` is given.
    step: Option<u8>,
    browser: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        step: None,
        browser: true,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--step" => {
                let value = args.next().map(String::as_str).unwrap_or_default();
                match value.parse() {
                    Ok(step @ 1..=3) => options.step = Some(step),
                    _ => bail!("--step takes 1, 2 or 3, not `{value}`"),
                }
            }
            "--no-browser" => options.browser = false,
            other => bail!(
                "unknown option `{other}` (try `cargo xtask verify --step 1` or `--no-browser`)"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    let wanted = |step: u8| options.step.is_none_or(|only| only == step);
    check(|sink, groups| {
        if wanted(1) {
            groups.spawn(checks::step1::run(sink.clone()));
        }
        if wanted(2) {
            groups.spawn(checks::step2::run(sink.clone()));
        }
        if wanted(3) {
            groups.spawn(checks::step3::run(sink.clone()));
        }
        if options.browser {
            groups.spawn(checks::browser::run(sink.clone(), options.step));
        }
        if options.step.is_none() {
            groups.spawn(docs::run(sink.clone()));
        }
    })
}

/// Builds the steps, runs the groups of checks that `spawn_groups` starts
/// side by side, and reports each outcome as it arrives.
pub fn check(spawn_groups: impl FnOnce(&Sink, &mut JoinSet<()>)) -> anyhow::Result<ExitCode> {
    let mut report = Report::new();
    steps::build()?;

    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(async {
        let (sink, mut outcomes) = Sink::new();
        let mut groups = JoinSet::new();
        spawn_groups(&sink, &mut groups);
        drop(sink);

        // Ctrl+C reaches the steps and Chromium through the terminal too.
        // Catching it here, rather than dying at once, lets the unfinished
        // checks clean up (Chromium's temporary profile is deleted) when
        // the runtime drops them on the way out.
        let reporting = async {
            while let Some(outcome) = outcomes.recv().await {
                report.record(&outcome);
            }
            while groups.join_next().await.is_some() {}
        };
        tokio::select! {
            () = reporting => report.finish(),
            _ = tokio::signal::ctrl_c() => {
                println!("verify: interrupted (Ctrl+C)");
                ExitCode::from(130)
            }
        }
    });
    Ok(code)
}
