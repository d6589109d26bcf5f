//! One block against what it shows: a region of the code, or what a real
//! run of its scenario printed.

use super::markdown::Block;
use super::pages::Docs;
use super::regions::Selector;
use super::{Outcome, Problem, ReadSource, transcripts};

/// `Ok` when the block equals its source region, or what differs.
pub(super) fn compare_source(
    selector: &str,
    block: &Block,
    read_source: ReadSource,
) -> Result<(), String> {
    let region = source_region(selector, read_source).map_err(|error| format!("{error:#}"))?;
    let shown: Vec<&str> = block.body.iter().map(|line| line.trim_end()).collect();
    match first_difference(&shown, &region) {
        None => Ok(()),
        Some(difference) => Err(format!(
            "the block differs from `{selector}`: {difference} (cargo xtask docs sync rewrites it)"
        )),
    }
}

pub(super) fn source_region(
    selector: &str,
    read_source: ReadSource,
) -> anyhow::Result<Vec<String>> {
    let selector = Selector::parse(selector)?;
    let source = read_source(&selector.file)?;
    selector.extract(&source)
}

/// The first line where the doc's text and the real one differ, described.
pub(super) fn first_difference(
    shown: &[impl AsRef<str>],
    real: &[impl AsRef<str>],
) -> Option<String> {
    let at = (0..shown.len().max(real.len()))
        .find(|&index| shown.get(index).map(AsRef::as_ref) != real.get(index).map(AsRef::as_ref))?;
    let describe = |line: Option<&str>| {
        line.map_or("nothing (the block ends)".to_string(), |line| {
            format!("{line:?}")
        })
    };
    Some(format!(
        "line {} of the block shows {} where the real one has {}",
        at + 1,
        describe(shown.get(at).map(AsRef::as_ref)),
        describe(real.get(at).map(AsRef::as_ref)),
    ))
}

/// Every block of one scenario against what a real run printed.
pub fn check_output(docs: &Docs, scenario: &str, run: &anyhow::Result<Vec<String>>) -> Outcome {
    let blocks = docs.outputs().remove(scenario).unwrap_or_default();
    let run = match run {
        Ok(run) => run,
        Err(error) => {
            let at = blocks
                .first()
                .map_or("docs".to_string(), |(page, block)| page.at(block.line));
            return Err(vec![Problem {
                at,
                what: format!("running `{scenario}` failed: {error:#}"),
            }]);
        }
    };
    let real: Vec<String> = run
        .iter()
        .map(|line| transcripts::comparable(line))
        .collect();
    let mut problems = Vec::new();
    for (page, block) in &blocks {
        let shown: Vec<String> = block
            .body
            .iter()
            .map(|line| transcripts::comparable(line))
            .collect();
        if let Some(difference) = first_difference(&shown, &real) {
            problems.push(Problem {
                at: page.at(block.line),
                what: format!("the output of `{scenario}` differs: {difference} (cargo xtask docs sync rewrites it)"),
            });
        }
    }
    if problems.is_empty() {
        let places: Vec<String> = blocks
            .iter()
            .map(|(page, block)| page.at(block.line))
            .collect();
        Ok(format!(
            "output `{scenario}` as a real run prints it: {}",
            places.join(", ")
        ))
    } else {
        Err(problems)
    }
}
