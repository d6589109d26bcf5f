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

mod markdown;
mod regions;
mod transcripts;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures_util::future::join_all;

use crate::course::{self, WayBack};
use crate::lang::Lang;
use crate::runner::{self, Sink};
use crate::steps::{self, workspace_root};
use markdown::{Block, Marker, Parsed};
use regions::Selector;
#[cfg(test)]
pub(crate) use transcripts::comparable;

/// The walkthrough languages, one folder each under `docs/`.
pub const LANGUAGES: [&str; 2] = ["en", "ko"];

/// The check's subject in the verify report.
const SUBJECT: &str = "docs";

/// One Markdown file of the walkthroughs.
pub struct Page {
    /// Relative to the workspace root, with `/`: `docs/en/01-step1.md`.
    pub path: String,
    pub text: String,
    parsed: Parsed,
}

impl Page {
    pub fn new(path: &str, text: String) -> Page {
        Page {
            path: path.to_string(),
            parsed: markdown::parse(&text),
            text,
        }
    }

    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path)
    }
}

/// The README and every chapter of both languages.
pub struct Docs {
    pub pages: Vec<Page>,
}

impl Docs {
    /// Reads `docs/README.md` and `docs/<language>/*.md`.
    pub fn load(root: &Path) -> anyhow::Result<Docs> {
        let mut pages = Vec::new();
        let readme = "docs/README.md";
        if let Ok(text) = std::fs::read_to_string(root.join(readme)) {
            pages.push(Page::new(readme, text));
        }
        for language in LANGUAGES {
            let folder = root.join("docs").join(language);
            let entries = std::fs::read_dir(&folder)
                .with_context(|| format!("cannot read {}", folder.display()))?;
            let mut names: Vec<String> = entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".md"))
                .collect();
            names.sort();
            for name in names {
                let path = format!("docs/{language}/{name}");
                let text = std::fs::read_to_string(root.join(&path))
                    .with_context(|| format!("cannot read {path}"))?;
                pages.push(Page::new(&path, text));
            }
        }
        Ok(Docs { pages })
    }

    fn page(&self, path: &str) -> Option<&Page> {
        self.pages.iter().find(|page| page.path == path)
    }

    /// Chapter file names of one language, in order.
    fn chapters(&self, language: &str) -> Vec<&str> {
        let prefix = format!("docs/{language}/");
        self.pages
            .iter()
            .filter_map(|page| page.path.strip_prefix(&prefix))
            .collect()
    }

    /// Chapter file names of either language, in order.
    fn all_chapters(&self) -> BTreeSet<&str> {
        LANGUAGES
            .iter()
            .flat_map(|language| self.chapters(language))
            .collect()
    }

    /// The output blocks, with their pages, grouped by scenario.
    fn outputs(&self) -> BTreeMap<&str, Vec<(&Page, &Block)>> {
        let mut outputs: BTreeMap<&str, Vec<(&Page, &Block)>> = BTreeMap::new();
        for page in &self.pages {
            for block in &page.parsed.blocks {
                if let Marker::Output(scenario) = &block.marker {
                    outputs.entry(scenario).or_default().push((page, block));
                }
            }
        }
        outputs
    }
}

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

/// The same chapters in both languages, every one listed in the README, and
/// every relative link pointing at a file that exists.
pub fn check_layout(docs: &Docs, exists: &dyn Fn(&str) -> bool) -> Outcome {
    let mut problems = Vec::new();
    let chapters = docs.all_chapters();
    for language in LANGUAGES {
        let have = docs.chapters(language);
        for chapter in &chapters {
            if !have.contains(chapter) {
                let other = LANGUAGES
                    .iter()
                    .find(|other| **other != language)
                    .unwrap_or(&language);
                problems.push(Problem {
                    at: format!("docs/{language}"),
                    what: format!("{chapter} is missing, but docs/{other}/{chapter} exists"),
                });
            }
        }
    }
    if chapters.is_empty() {
        problems.push(Problem {
            at: "docs".to_string(),
            what: "no chapters in docs/en or docs/ko".to_string(),
        });
    }
    match docs.page("docs/README.md") {
        None => problems.push(Problem {
            at: "docs/README.md".to_string(),
            what: "missing: it links both languages and gives the chapter order".to_string(),
        }),
        Some(readme) => {
            let linked: BTreeSet<&str> = readme
                .parsed
                .links
                .iter()
                .map(|(_, target)| target.as_str())
                .collect();
            for language in LANGUAGES {
                for chapter in docs.chapters(language) {
                    let target = format!("{language}/{chapter}");
                    if !linked.contains(target.as_str()) {
                        problems.push(Problem {
                            at: readme.path.clone(),
                            what: format!("no link to {target}"),
                        });
                    }
                }
            }
        }
    }
    for page in &docs.pages {
        let folder = page.path.rsplit_once('/').map_or("", |(folder, _)| folder);
        for (line, target) in &page.parsed.links {
            let resolved = resolve(folder, target);
            if !exists(&resolved) {
                problems.push(Problem {
                    at: page.at(*line),
                    what: format!("the link {target} points at {resolved}, which does not exist"),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} chapters in both languages, all linked from docs/README.md; every relative link resolves",
            chapters.len()
        ))
    } else {
        Err(problems)
    }
}

/// `target` relative to `folder`, with `..` resolved: `docs/en` and
/// `../../step1-ws-only/src/main.rs` give `step1-ws-only/src/main.rs`.
fn resolve(folder: &str, target: &str) -> String {
    let mut parts: Vec<&str> = folder.split('/').filter(|part| !part.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

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
    }
    if problems.is_empty() {
        let blocks = pages.first().map_or(0, |page| page.parsed.blocks.len());
        let headings = pages.first().map_or(0, |page| page.parsed.headings.len());
        let code = match sources / pages.len().max(1) {
            0 => "no block shows project code".to_string(),
            count => format!("the {count} showing project code match it"),
        };
        Ok(format!(
            "{chapter}: en and ko have the same headings ({headings}) and code blocks ({blocks}); {code}"
        ))
    } else {
        Err(problems)
    }
}

/// `Ok` when the block equals its source region, or what differs.
fn compare_source(selector: &str, block: &Block, read_source: ReadSource) -> Result<(), String> {
    let region = source_region(selector, read_source).map_err(|error| format!("{error:#}"))?;
    let shown: Vec<&str> = block.body.iter().map(|line| line.trim_end()).collect();
    match first_difference(&shown, &region) {
        None => Ok(()),
        Some(difference) => Err(format!(
            "the block differs from `{selector}`: {difference} (cargo xtask docs sync rewrites it)"
        )),
    }
}

fn source_region(selector: &str, read_source: ReadSource) -> anyhow::Result<Vec<String>> {
    let selector = Selector::parse(selector)?;
    let source = read_source(&selector.file)?;
    selector.extract(&source)
}

/// The first line where the doc's text and the real one differ, described.
fn first_difference(shown: &[impl AsRef<str>], real: &[impl AsRef<str>]) -> Option<String> {
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

/// The same headings (by level), code blocks (by marker) and commands in
/// the two languages. Reports the first place they part, since everything
/// after it differs too.
fn compare_structure(first: &Page, second: &Page) -> Vec<Problem> {
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
            .map(|block| (block.line, signature(block)))
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

fn first_parting(
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
    let scenarios: Vec<&str> = docs
        .outputs()
        .into_keys()
        .filter(|scenario| !runs_changed(scenario))
        .collect();
    let runs = join_all(scenarios.iter().map(|scenario| transcripts::run(scenario))).await;
    for (scenario, real) in scenarios.into_iter().zip(runs) {
        sink.record(
            SUBJECT,
            into_result(check_output(&docs, scenario, &real)),
            None,
        );
    }
}

/// The file a source marker shows: `step1-ws-only/src/main.rs fn talk`
/// shows `step1-ws-only/src/main.rs`.
fn shown_file(selector: &str) -> String {
    Selector::parse(selector).map_or_else(|_| selector.to_string(), |parsed| parsed.file)
}

/// A step folder whose code differs from what the chapters show.
pub struct ChangedStep {
    pub folder: &'static str,
    /// How many blocks show its code and differ from it.
    pub differing: usize,
}

impl ChangedStep {
    fn holds(&self, file: &str) -> bool {
        file.strip_prefix(self.folder)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether a scenario runs a program that this folder changes. A
    /// scenario is named for the steps it runs (`step2-against-step3`);
    /// one that names none may run any.
    fn runs_in(&self, scenario: &str) -> bool {
        let named: Vec<&str> = course::STEP_FOLDERS
            .iter()
            .map(|(package, _)| *package)
            .filter(|package| scenario.contains(package))
            .collect();
        named.is_empty()
            || course::packages_using(self.folder)
                .iter()
                .any(|package| named.contains(package))
    }

    /// The one line that stands for all the blocks and outputs left out.
    fn describe(&self, outputs: usize, lang: Lang) -> String {
        let folder = self.folder;
        let differing = self.differing;
        let way_back = match WayBack::of(folder) {
            WayBack::Command(command) => lang.pick(
                format!("Changed it for an exercise? `{command}` goes back."),
                format!("실습 때문에 고쳤다면 `{command}` 로 되돌릴 수 있습니다."),
            ),
            other => other.sentence(folder, lang) + ".",
        };
        lang.pick(
            format!(
                "{folder} differs from the course: {differing} code block(s) in the chapters \
                 show other code, so its blocks and {outputs} output(s) of runs that use it are \
                 not compared. {way_back} Meant for the course? Run `cargo xtask docs sync`."
            ),
            format!(
                "{folder} 가 강의와 다릅니다. 장들의 코드 블록 {differing}개가 지금과 다른 코드를 \
                 보여 주므로, 이 폴더의 블록과 이 폴더를 쓰는 실행 결과 {outputs}개는 비교하지 \
                 않았습니다. {way_back} 강의 자체를 고친 것이라면 `cargo xtask docs sync` 를 \
                 실행하세요."
            ),
        )
    }
}

/// The step folders with at least one source block that no longer matches
/// the code.
pub fn changed_steps(docs: &Docs, read_source: ReadSource) -> Vec<ChangedStep> {
    let mut changed = Vec::new();
    for (_, folder) in course::STEP_FOLDERS {
        let mut step = ChangedStep {
            folder,
            differing: 0,
        };
        for page in &docs.pages {
            for block in &page.parsed.blocks {
                let Marker::Source(selector) = &block.marker else {
                    continue;
                };
                if step.holds(&shown_file(selector))
                    && compare_source(selector, block, read_source).is_err()
                {
                    step.differing += 1;
                }
            }
        }
        if step.differing > 0 {
            changed.push(step);
        }
    }
    changed
}

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
        let lang = Lang::from_env();
        return runner::run("docs", lang, |plan| {
            plan.group(runner::text::docs(lang), move |sink| run(sink, lang))
        });
    }
    steps::build()?;
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
