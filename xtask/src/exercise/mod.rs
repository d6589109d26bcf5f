//! `cargo xtask exercise`: checks a learner's own answer to each chapter's
//! exercise, the way `verify` checks the course.
//!
//! The runner builds the steps from the learner's working tree, starts the
//! step an exercise changes on a free port, and checks the outcome the
//! chapter asks for: over real sockets, and in headless Chromium where the
//! outcome is what a page shows. Each exercise prints `✓` with what it saw,
//! or `✗` with what it expected, what it saw, and a hint that names the file
//! and the function to change. After a pass it says where the reference
//! solution is and how to compare it with the learner's files.
//!
//! - `list`: the exercises, as data (number, chapter, step, texts, check).
//! - `checks`: one check per exercise.
//! - `report`: what is printed for a verdict, in both languages.
//! - `progress`: what has passed, kept in `target/` across runs.
//! - `coach`: `--watch`, which re-checks on every save and takes keys.
//!
//! It never writes to the learner's files. Going back to the course's
//! version of a step is one command, which it prints.

mod checks;
mod coach;
mod list;
mod progress;
mod report;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use anyhow::bail;

use crate::browser::{self, Chromium};
use crate::lang::Lang;
use crate::steps::{self, Program, workspace_root};
use crate::tools;

pub use checks::{Judge, Judging};
pub use list::EXERCISES;

/// One exercise.
pub struct Exercise {
    /// Its number, which `cargo xtask exercise N` takes.
    pub number: u8,
    /// The chapter whose last section asks for it.
    pub chapter: u8,
    /// The step package that runs for the check.
    pub package: &'static str,
    /// What the learner changes, relative to the workspace root: a step's
    /// folder or one file. `--watch` watches it; the way back restores it.
    pub changes: &'static str,
    /// What to do, in a few words: English, Korean.
    pub title: (&'static str, &'static str),
    /// Where to change it: English, Korean.
    pub hint: (&'static str, &'static str),
    /// The check, given the built step.
    pub check: for<'a> fn(Judge<'a>) -> Judging<'a>,
    /// Whether the check needs Chromium.
    pub browser: bool,
    /// Whether the check needs `redis-server`, which it starts on a free
    /// port of its own (step 4's exercises).
    pub redis: bool,
    /// The folder of the reference solution: its files, at the same paths
    /// as in the workspace.
    pub solution: &'static str,
}

impl Exercise {
    pub fn title(&self, lang: Lang) -> &'static str {
        lang.pick(self.title.0, self.title.1)
    }

    pub fn hint(&self, lang: Lang) -> &'static str {
        lang.pick(self.hint.0, self.hint.1)
    }

    /// The chapter's file in the learner's language, for the "next" line.
    pub fn chapter_file(&self, lang: Lang) -> String {
        let folder = workspace_root().join(lang.docs_folder());
        let prefix = format!("{:02}-", self.chapter);
        let name = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .find(|name| name.starts_with(&prefix))
            .unwrap_or_else(|| format!("{prefix}*.md"));
        format!("{}/{name}", lang.docs_folder())
    }

    /// The reference solution's files, relative to the workspace root.
    pub fn solution_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let mut folders = vec![workspace_root().join(self.solution)];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if let Ok(relative) = path.strip_prefix(workspace_root()) {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        files.sort();
        files
    }

    /// The exercise with number `number`.
    pub fn numbered(number: u8) -> Option<&'static Exercise> {
        EXERCISES.iter().find(|exercise| exercise.number == number)
    }
}

/// What a check found wrong: what it expected, what it saw instead, and,
/// when the exercise's own hint does not fit the mistake, a better one.
#[derive(Debug)]
pub struct Miss {
    pub expected: String,
    pub saw: String,
    pub hint: Option<String>,
}

impl Miss {
    pub fn new(expected: impl Into<String>, saw: impl Into<String>) -> Miss {
        Miss {
            expected: expected.into(),
            saw: saw.into(),
            hint: None,
        }
    }

    /// The same miss with a hint about this mistake, when there is one.
    pub fn hint(mut self, hint: Option<impl Into<String>>) -> Miss {
        self.hint = hint.map(Into::into);
        self
    }
}

/// An exercise's result.
#[derive(Debug)]
pub enum Verdict {
    /// Done, with what the check saw.
    Done(String),
    NotYet(Miss),
    /// The check could not run (no browser, for one), and why.
    Unchecked(String),
}

impl Verdict {
    pub fn is_done(&self) -> bool {
        matches!(self, Verdict::Done(_))
    }
}

/// Runs the check of `exercise` against `program`, a build of its step.
/// `chromium` is needed for the browser exercises.
pub async fn check(
    exercise: &Exercise,
    program: &Program,
    chromium: Option<&Chromium>,
    lang: Lang,
) -> Verdict {
    if exercise.browser && chromium.is_none() {
        return Verdict::Unchecked(
            lang.pick(
                format!("this check needs a browser: {}", browser::INSTALL_HINT),
                "이 확인에는 브라우저가 필요합니다. Chromium을 설치하거나 \
             (Debian/Ubuntu: `sudo apt-get install -y chromium`) 환경 변수 CHROME에 Chrome이나 \
             Chromium 프로그램의 경로를 지정하세요"
                    .to_string(),
            ),
        );
    }
    if let (true, Err(why)) = (exercise.redis, tools::find_redis()) {
        let korean = match std::env::var("REDIS_SERVER") {
            Ok(chosen) => format!(
                "이 확인에는 Redis가 필요합니다. 환경 변수 REDIS_SERVER에 지정한 경로가 파일이 \
                 아닙니다: {chosen}"
            ),
            Err(_) => "이 확인에는 Redis가 필요합니다. redis-server를 설치하거나(Debian/Ubuntu: \
                 `sudo apt-get install -y redis-server`, macOS: `brew install redis`, Windows: \
                 Debian처럼 WSL 안에서) 환경 변수 REDIS_SERVER에 redis-server 프로그램의 경로를 \
                 지정하세요"
                .to_string(),
        };
        return Verdict::Unchecked(lang.pick(format!("this check needs Redis: {why}"), korean));
    }
    let judge = Judge {
        program,
        chromium,
        lang,
    };
    match (exercise.check)(judge).await {
        Ok(seen) => Verdict::Done(seen),
        Err(miss) => Verdict::NotYet(miss),
    }
}

/// What the command line asks for.
pub struct Options {
    /// One exercise, when a number is given.
    pub only: Option<u8>,
    /// `--watch`: the coach.
    pub watch: bool,
    /// `--all`: check every exercise again, passed ones too.
    pub all: bool,
    pub lang: Lang,
}

fn usage(lang: Lang) -> String {
    let last = EXERCISES.len();
    lang.pick(
        format!("usage: cargo xtask exercise [1-{last}] [--watch] [--all] [--lang ko|en]"),
        format!("사용법: cargo xtask exercise [1-{last}] [--watch] [--all] [--lang ko|en]"),
    )
}

pub fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut args = args.to_vec();
    let lang = Lang::take_from(&mut args)?;
    let mut take = |flag: &str| {
        let found = args.iter().position(|arg| arg == flag);
        found.map(|at| args.remove(at)).is_some()
    };
    let (watch, all) = (take("--watch"), take("--all"));
    let last = EXERCISES.len();
    let only = match args.as_slice() {
        [] => None,
        [number] => match number.parse().ok().and_then(Exercise::numbered) {
            Some(exercise) => Some(exercise.number),
            None => bail!(
                "{}",
                lang.pick(
                    format!("there are exercises 1 to {last}, not `{number}` (try `cargo xtask exercise 1`)"),
                    format!("실습 번호는 1부터 {last}까지입니다. 주신 번호 `{number}`인 실습은 없습니다 (예: `cargo xtask exercise 1`)"),
                )
            ),
        },
        _ => bail!("{}", usage(lang)),
    };
    Ok(Options {
        only,
        watch,
        all,
        lang,
    })
}

/// `cargo xtask exercise [N] [--watch] [--all] [--lang ko|en]`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    if options.watch {
        return coach::run(&options);
    }
    Ok(match options.only {
        Some(number) => report::one(number, options.lang),
        None => report::overview(options.all, options.lang),
    })
}

/// Builds the steps from the learner's files, or prints what the compiler
/// said and how to go back. Returns whether they built. Steps 1 to 3 are
/// always built together; a later step only when one of `chosen` runs it.
pub fn build(lang: Lang, chosen: &[&Exercise]) -> bool {
    let later_steps = chosen
        .iter()
        .map(|exercise| exercise.package)
        .filter(|package| !steps::FIRST_STEPS.contains(package));
    let built = steps::rebuild_in(lang).and_then(|()| {
        later_steps
            .into_iter()
            .try_for_each(|package| steps::build_package_in(package, lang))
    });
    match built {
        Ok(()) => true,
        Err(error) => {
            println!(
                "{}",
                lang.pick(
                    format!("✗ {error:#}. Fix what the compiler says, then run this again."),
                    format!("✗ {error:#}. 컴파일러가 알려 주는 대로 고친 뒤 다시 실행하세요."),
                )
            );
            for exercise in chosen {
                report::print_way_back(exercise, lang, true);
            }
            false
        }
    }
}

/// Chromium, when one of `chosen` needs it and it starts. A missing
/// browser is said by each browser exercise; one that is there but does
/// not start is said once, here.
pub async fn chromium_for(chosen: &[&Exercise], lang: Lang) -> Option<Chromium> {
    if !chosen.iter().any(|exercise| exercise.browser) {
        return None;
    }
    let program = browser::find().ok()?;
    match Chromium::launch(&program).await {
        Ok(chromium) => Some(chromium),
        Err(error) => {
            println!(
                "{}",
                lang.pick(
                    format!("✗ Chromium did not start: {error:#}"),
                    format!("✗ Chromium이 시작되지 않았습니다: {error:#}"),
                )
            );
            None
        }
    }
}
