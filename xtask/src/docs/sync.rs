//! `cargo xtask docs sync`: every marked block rewritten from the current
//! code and fresh runs.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use futures_util::future::join_all;

use super::blocks::source_region;
use super::markdown::{self, Marker};
use super::pages::Docs;
use super::{Problem, ReadSource, read_from_disk, transcripts};
use crate::steps::{self, workspace_root};

/// The pages whose blocks differ from the code or from real runs, rewritten:
/// (path, new text). `runs` holds a real run of each scenario in use.
pub fn synced(
    docs: &Docs,
    read_source: ReadSource,
    runs: &BTreeMap<String, anyhow::Result<Vec<String>>>,
) -> (Vec<(String, String)>, Vec<Problem>) {
    let mut rewritten = Vec::new();
    let mut problems = Vec::new();
    for page in &docs.pages {
        let mut replacements = Vec::new();
        for block in &page.parsed.blocks {
            let fresh = match &block.marker {
                Marker::Source(selector) => source_region(selector, read_source),
                Marker::Output(scenario) => match runs.get(scenario.as_str()) {
                    Some(Ok(lines)) => Ok(lines.clone()),
                    Some(Err(error)) => {
                        Err(anyhow::anyhow!("running `{scenario}` failed: {error:#}"))
                    }
                    None => continue,
                },
                _ => continue,
            };
            let fresh = match fresh {
                Ok(fresh) => fresh,
                Err(error) => {
                    problems.push(Problem {
                        at: page.at(block.line),
                        what: format!("{error:#}"),
                    });
                    continue;
                }
            };
            // Output lines that differ only in what varies between runs
            // stay as they are, so that a sync changes nothing needlessly.
            let comparable = |lines: &[String]| -> Vec<String> {
                lines
                    .iter()
                    .map(|line| transcripts::comparable(line))
                    .collect()
            };
            let same = match block.marker {
                Marker::Output(_) => comparable(&block.body) == comparable(&fresh),
                _ => block
                    .body
                    .iter()
                    .map(|line| line.trim_end())
                    .eq(fresh.iter().map(String::as_str)),
            };
            if !same {
                replacements.push((block, fresh));
            }
        }
        if !replacements.is_empty() {
            rewritten.push((
                page.path.clone(),
                markdown::replace_bodies(&page.text, &replacements),
            ));
        }
    }
    (rewritten, problems)
}

/// Rewrites every page whose blocks drifted, and says which.
pub fn command() -> anyhow::Result<ExitCode> {
    steps::build()?;
    // Chapter 6's outputs run step 4: built before the scenarios run side
    // by side, so that no scenario waits for cargo. A failed build is
    // reported by those outputs.
    let _ = crate::many_servers::build_step4();
    let runtime = tokio::runtime::Runtime::new()?;

    let root = workspace_root();
    let docs = Docs::load(root)?;
    let runs = runtime.block_on(async {
        let scenarios: Vec<String> = docs.outputs().into_keys().map(str::to_string).collect();
        let runs = join_all(scenarios.iter().map(|scenario| transcripts::run(scenario))).await;
        scenarios.into_iter().zip(runs).collect::<BTreeMap<_, _>>()
    });
    let (rewritten, problems) = synced(&docs, &read_from_disk, &runs);
    for (path, text) in &rewritten {
        std::fs::write(root.join(path), text).with_context(|| format!("cannot write {path}"))?;
        println!("rewrote {path}");
    }
    if rewritten.is_empty() {
        println!("every source and output block was already up to date");
    }
    for problem in &problems {
        println!("✗ {problem}");
    }
    println!("Run `cargo xtask docs` to check both languages against each other.");
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
