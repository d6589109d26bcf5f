//! `cargo xtask verify`: builds the steps, runs each one as a real process
//! on a free port, and checks what it does over real sockets.
//!
//! The steps are checked side by side (see `runner`), and printed in the
//! course's order: step 1, step 2, step 3, step 4, the browser, the docs. With
//! `--lang ko` (or a Korean locale) the runner's own words are Korean.

use std::process::ExitCode;

use anyhow::bail;

use crate::lang::Lang;
use crate::runner::{self, text};
use crate::{checks, docs, steps};

struct Options {
    /// Only this step, when `--step N` is given.
    step: Option<u8>,
    browser: bool,
    lang: Lang,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut args = args.to_vec();
    let mut options = Options {
        step: None,
        browser: true,
        lang: Lang::take_from(&mut args)?,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--step" => {
                let value = args.next().map(String::as_str).unwrap_or_default();
                match value.parse() {
                    Ok(step @ 1..=4) => options.step = Some(step),
                    _ => bail!("--step takes 1, 2, 3 or 4, not `{value}`"),
                }
            }
            "--no-browser" => options.browser = false,
            other => bail!(
                "unknown option `{other}` (try `cargo xtask verify --step 1`, `--no-browser` or `--lang ko`)"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    let wanted = |step: u8| options.step.is_none_or(|only| only == step);
    let lang = options.lang;
    steps::build_in(lang)?;
    // Step 4 is built here, before the checks run side by side, rather than
    // by its group or a chapter's output, which would hold up a thread of
    // the checks while cargo works. A failure is left to them to report.
    if wanted(4) {
        let _ = crate::many_servers::build_step4_in(lang);
    }
    runner::run("verify", lang, |plan| {
        if wanted(1) {
            plan.group(text::step1(lang), checks::step1::run);
        }
        if wanted(2) {
            plan.group(text::step2(lang), checks::step2::run);
        }
        if wanted(3) {
            plan.group(text::step3(lang), checks::step3::run);
        }
        if wanted(4) {
            let browser = options.browser;
            plan.group(text::step4(lang), move |sink| {
                checks::step4::run(sink, browser)
            });
        }
        // The browser checks are of steps 1 to 3; step 4's pages are in its own group.
        if options.browser && options.step.is_none_or(|only| only <= 3) {
            let only = options.step;
            plan.group(text::browser(lang), move |sink| {
                checks::browser::run(sink, only)
            });
        }
        if options.step.is_none() {
            plan.group(text::docs(lang), move |sink| docs::run(sink, lang));
        }
    })
}
