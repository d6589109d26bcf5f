//! One chapter in both languages: every block marked, every source block
//! equal to its source, and the same headings, blocks and commands in the
//! same order.

use std::collections::BTreeSet;

use super::blocks::compare_source;
use super::changed::shown_file;
use super::markdown::{Block, Marker};
use super::pages::{Docs, LANGUAGES, Page};
use super::{Outcome, Problem, ReadSource, transcripts};

/// One chapter in both languages: the same headings, blocks and commands,
/// every block marked, and every source block equal to its source.
#[cfg(test)]
pub fn check_chapter(docs: &Docs, chapter: &str, read_source: ReadSource) -> Outcome {
    check_chapter_except(docs, chapter, read_source, &|_| false)
}

/// Like `check_chapter`, but blocks that show a file for which `left_out`
/// holds are not compared with it (that file's step differs from the
/// course, and says so in a line of its own).
pub fn check_chapter_except(
    docs: &Docs,
    chapter: &str,
    read_source: ReadSource,
    left_out: &dyn Fn(&str) -> bool,
) -> Outcome {
    let pages: Vec<&Page> = LANGUAGES
        .iter()
        .filter_map(|language| docs.page(&format!("docs/{language}/{chapter}")))
        .collect();
    let mut problems = Vec::new();
    let mut sources = 0;
    for page in &pages {
        for block in &page.parsed.blocks {
            match &block.marker {
                Marker::Source(selector) => {
                    sources += 1;
                    if left_out(&shown_file(selector)) {
                        continue;
                    }
                    if let Err(what) = compare_source(selector, block, read_source) {
                        problems.push(Problem {
                            at: page.at(block.line),
                            what,
                        });
                    }
                }
                Marker::Output(scenario) => {
                    if !transcripts::SCENARIOS.iter().any(|(name, _)| name == scenario) {
                        problems.push(Problem {
                            at: page.at(block.line),
                            what: format!(
                                "there is no output scenario `{scenario}`; known: {}",
                                transcripts::names()
                            ),
                        });
                    }
                }
                Marker::Unchecked(_) => {}
                Marker::Unknown(comment) => problems.push(Problem {
                    at: page.at(block.line),
                    what: format!("the comment above the block, `{comment}`, is not a marker: use source:, output: or unchecked:"),
                }),
                Marker::Missing => problems.push(Problem {
                    at: page.at(block.line),
                    what: "the block has no marker above it: add <!-- source: FILE ITEM -->, <!-- output: SCENARIO --> or <!-- unchecked: why -->".to_string(),
                }),
            }
        }
    }
    if let [first, second] = pages[..] {
        problems.extend(compare_structure(first, second));
        problems.extend(compare_commands(first, second));
    }
    if problems.is_empty() {
        let blocks = pages.first().map_or(0, |page| page.parsed.blocks.len());
        let headings = pages.first().map_or(0, |page| page.parsed.headings.len());
        let commands = pages.first().map_or(0, |page| inline_commands(page).len());
        let code = match sources / pages.len().max(1) {
            0 => "no block shows project code".to_string(),
            count => format!("the {count} showing project code match it"),
        };
        Ok(format!(
            "{chapter}: en and ko have the same headings ({headings}), code blocks ({blocks}) and inline commands ({commands}); {code}"
        ))
    } else {
        Err(problems)
    }
}

/// The same headings (by level), code blocks (by marker) and commands in
/// the two languages. Reports the first place they part, since everything
/// after it differs too.
pub(super) fn compare_structure(first: &Page, second: &Page) -> Vec<Problem> {
    compare_structure_by(first, second, signature)
}

/// The same headings (by level) in the two languages, and code blocks
/// equal as `block_signature` says.
pub(super) fn compare_structure_by(
    first: &Page,
    second: &Page,
    block_signature: fn(&Block) -> String,
) -> Vec<Problem> {
    let headings = |page: &Page| -> Vec<(usize, String)> {
        page.parsed
            .headings
            .iter()
            .map(|heading| (heading.line, "#".repeat(heading.level)))
            .collect()
    };
    let blocks = |page: &Page| -> Vec<(usize, String)> {
        page.parsed
            .blocks
            .iter()
            .map(|block| (block.line, block_signature(block)))
            .collect()
    };
    let mut problems = Vec::new();
    for (what, first_items, second_items) in [
        ("heading", headings(first), headings(second)),
        ("code block", blocks(first), blocks(second)),
    ] {
        if let Some(problem) = first_parting(what, first, &first_items, second, &second_items) {
            problems.push(problem);
        }
    }
    problems
}

/// What must be equal between the languages about a block: its marker,
/// and the commands it shows.
fn signature(block: &Block) -> String {
    let marker = match &block.marker {
        Marker::Source(selector) => format!("source: {selector}"),
        Marker::Output(scenario) => format!("output: {scenario}"),
        Marker::Unchecked(_) => format!("unchecked {}", block.language),
        Marker::Unknown(_) | Marker::Missing => format!("unmarked {}", block.language),
    };
    let commands: Vec<&str> = block
        .body
        .iter()
        .map(|line| line.trim())
        .filter(|line| line.starts_with("$ "))
        .collect();
    if commands.is_empty() {
        marker
    } else {
        format!("{marker} with {}", commands.join(" and "))
    }
}

pub(super) fn first_parting(
    what: &str,
    first: &Page,
    first_items: &[(usize, String)],
    second: &Page,
    second_items: &[(usize, String)],
) -> Option<Problem> {
    let at = (0..first_items.len().max(second_items.len())).find(|&index| {
        first_items.get(index).map(|item| &item.1) != second_items.get(index).map(|item| &item.1)
    })?;
    let ordinal = at + 1;
    Some(match (first_items.get(at), second_items.get(at)) {
        (Some((line, item)), Some((other_line, other))) => Problem {
            at: second.at(*other_line),
            what: format!(
                "{what} {ordinal} is `{other}` here but `{item}` in {}",
                first.at(*line)
            ),
        },
        (Some((line, item)), None) => Problem {
            at: second.path.clone(),
            what: format!(
                "{what} {ordinal} (`{item}`, {}) is missing here",
                first.at(*line)
            ),
        },
        (None, Some((line, item))) => Problem {
            at: first.path.clone(),
            what: format!(
                "{what} {ordinal} (`{item}`, {}) is missing here",
                second.at(*line)
            ),
        },
        (None, None) => unreachable!("the index is below the longer length"),
    })
}

/// The programs whose command lines, written inline in the prose, must be
/// the same in both languages.
const PROGRAMS: &[&str] = &[
    "cargo",
    "curl",
    "curl.exe",
    "git",
    "sudo",
    "brew",
    "winget",
    "node",
    "openssl",
    "lsof",
    "ss",
    "netstat",
    "ulimit",
    "kill",
    "nginx",
    "redis-server",
    "docker",
    "chromium",
];

/// The inline code of a page that is a command line: a program of
/// `PROGRAMS`, maybe after environment settings (`PORT=8081 cargo run`,
/// PowerShell's `$env:PORT=8081; cargo run`).
pub(super) fn inline_commands(page: &Page) -> BTreeSet<String> {
    page.parsed
        .code_spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| is_command(span))
        .cloned()
        .collect()
}

fn is_command(span: &str) -> bool {
    let is_setting = |word: &str| {
        word.starts_with("$env:")
            || word.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
    };
    span.split_whitespace()
        .find(|word| !is_setting(word))
        .is_some_and(|program| PROGRAMS.contains(&program))
}

/// The commands written inline in one page and not in the other.
pub(super) fn compare_commands(first: &Page, second: &Page) -> Vec<Problem> {
    let (ours, theirs) = (inline_commands(first), inline_commands(second));
    let only = |page: &Page, have: &BTreeSet<String>, lack: &BTreeSet<String>, other: &Page| {
        have.difference(lack)
            .map(|command| Problem {
                at: page.path.clone(),
                what: format!("the command `{command}` is not in {}", other.path),
            })
            .collect::<Vec<_>>()
    };
    let mut problems = only(first, &ours, &theirs, second);
    problems.extend(only(second, &theirs, &ours, first));
    problems
}
