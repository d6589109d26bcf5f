//! The walkthroughs under `docs/`, checked against the code.
//!
//! Every fenced code block in a chapter has a marker comment right above it,
//! invisible when the Markdown is rendered:
//!
//! - `<!-- source: FILE [REGION] -->`: project code; it must equal that
//!   region of the file (see `regions` for how regions are named);
//! - `<!-- output: SCENARIO -->`: commands and what they print; it must
//!   equal a real run of the scenario (see `transcripts`), up to what varies
//!   between runs (ports, client addresses, durations);
//! - `<!-- unchecked: why -->`: an illustration that is not project code.
//!
//! The English and Korean trees must have the same chapters, and each
//! chapter the same headings, blocks and commands in the same order.
//!
//! `cargo xtask docs` checks all this (so does `cargo xtask verify`), and
//! `cargo xtask docs sync` rewrites the source and output blocks from the
//! current code, so whoever changes a step re-syncs with one command.

mod blocks;
#[cfg(test)]
mod browser_facts;
mod changed;
mod chapters;
mod layout;
mod markdown;
mod pages;
mod readmes;
mod regions;
mod sync;
mod transcripts;

#[cfg(test)]
mod tests;

use std::fmt;
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures_util::future::join_all;

use crate::lang::Lang;
use crate::runner::{self, Sink};
use crate::steps::{self, workspace_root};
pub use blocks::check_output;
#[cfg(test)]
use changed::ChangedStep;
use changed::changed_steps;
#[cfg(test)]
use chapters::check_chapter;
use chapters::check_chapter_except;
use layout::check_layout;
pub use pages::Docs;
#[cfg(test)]
pub use pages::Page;
use readmes::check_readmes;
#[cfg(test)]
use sync::synced;
#[cfg(test)]
pub(crate) use transcripts::comparable;

/// The check's subject in the verify report.
const SUBJECT: &str = "docs";

/// Something wrong, where it is.
#[derive(Debug)]
pub struct Problem {
    pub at: String,
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

/// A check's outcome: what was seen, or every problem found.
type Outcome = Result<String, Vec<Problem>>;

fn into_result(outcome: Outcome) -> anyhow::Result<String> {
    outcome.map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n      "))
    })
}

/// How a check reads a source file, relative to the workspace root. Tests
/// give edited copies instead of the files on disk.
pub type ReadSource<'a> = &'a dyn Fn(&str) -> anyhow::Result<String>;

pub fn read_from_disk(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(workspace_root().join(path))
        .with_context(|| format!("cannot read {path}"))
}

/// The verify group: the layout, each chapter, then each output scenario.
/// Expects the steps to be built.
///
/// A step whose code differs from what the chapters show (a learner doing
/// an exercise, or a change not synced yet) gets one line that says so and
/// how to go back, instead of a failure for every block that shows it: its
/// blocks, and the outputs of the scenarios that run it, are left out, and
/// everything else is checked as usual.
pub async fn run(sink: Sink, lang: Lang) {
    let root = workspace_root();
    let docs = match Docs::load(root) {
        Ok(docs) => docs,
        Err(error) => return sink.record(SUBJECT, Err(error), None),
    };
    let exists = |path: &str| root.join(path).exists();
    sink.record(SUBJECT, into_result(check_layout(&docs, &exists)), None);
    sink.record(SUBJECT, into_result(check_readmes(&docs)), None);

    let changed = changed_steps(&docs, &read_from_disk);
    let left_out = |file: &str| changed.iter().any(|step| step.holds(file));
    let runs_changed = |scenario: &str| changed.iter().any(|step| step.runs_in(scenario));
    for step in &changed {
        let outputs = docs
            .outputs()
            .keys()
            .filter(|scenario| step.runs_in(scenario))
            .count();
        sink.record(
            SUBJECT,
            Err(anyhow::anyhow!("{}", step.describe(outputs, lang))),
            None,
        );
    }
    for chapter in docs.all_chapters() {
        let outcome = check_chapter_except(&docs, chapter, &read_from_disk, &left_out);
        sink.record(SUBJECT, into_result(outcome), None);
    }
    // The scenarios run side by side: each uses its own processes on its
    // own ports, and what varies with a busy machine (durations, figures)
    // is left out of the comparison anyway.
    let redis_missing = crate::many_servers::find_redis().err();
    let mut scenarios: Vec<&str> = docs
        .outputs()
        .into_keys()
        .filter(|scenario| !runs_changed(scenario))
        .collect();
    if let Some(why) = &redis_missing {
        for scenario in scenarios
            .iter()
            .filter(|name| transcripts::needs_redis(name))
        {
            let why = format!("the output `{scenario}`: {why}");
            if crate::tools::required() {
                let why = format!("{why} ({} is set)", crate::tools::REQUIRE_TOOLS);
                sink.record(SUBJECT, Err(anyhow::anyhow!(why)), None);
            } else {
                sink.skip(SUBJECT, why);
            }
        }
        scenarios.retain(|name| !transcripts::needs_redis(name));
    }
    let runs = join_all(scenarios.iter().map(|scenario| transcripts::run(scenario))).await;
    for (scenario, real) in scenarios.into_iter().zip(runs) {
        sink.record(
            SUBJECT,
            into_result(check_output(&docs, scenario, &real)),
            None,
        );
    }
}

/// `cargo xtask docs [check]` and `cargo xtask docs sync`.
pub fn command(args: &[String]) -> anyhow::Result<ExitCode> {
    let sync = match args.first().map(String::as_str) {
        None | Some("check") => false,
        Some("sync") => true,
        Some(other) => bail!(
            "unknown docs command `{other}`: use `cargo xtask docs` or `cargo xtask docs sync`"
        ),
    };
    if !sync {
        steps::build()?;
        // Chapter 6's outputs run step 4; a failed build is reported there.
        let _ = crate::many_servers::build_step4();
        let lang = Lang::from_env();
        return runner::run("docs", lang, |plan| {
            plan.group(runner::text::docs(lang), move |sink| run(sink, lang))
        });
    }
    sync::command()
}
