//! What the runner prints: one exercise's whole story, the overview of all
//! of them, the reference solution after a pass, and the way back to the
//! course's step. Every line in English and Korean.

use std::process::ExitCode;

use super::progress::{self, Progress};
use super::{EXERCISES, Exercise, Verdict, build, check, chromium_for};
use crate::course::WayBack;
use crate::lang::Lang;
use crate::steps::{Program, workspace_root};

/// `cargo xtask exercise N`: builds, checks exercise `number`, prints its
/// story, and keeps a pass in the progress file.
pub fn one(number: u8, lang: Lang) -> ExitCode {
    let exercise = super::Exercise::numbered(number).expect("parse checked the number");
    let verdict = check_now(&[exercise], lang).pop();
    let Some(verdict) = verdict else {
        return ExitCode::FAILURE;
    };
    for line in details(exercise, &verdict, lang) {
        println!("{line}");
    }
    print_way_back(exercise, lang, true);
    if verdict.is_done() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Builds the steps and runs the checks of `chosen`, in order, recording
/// each pass. Nothing when the steps do not build (that is printed).
pub fn check_now(chosen: &[&Exercise], lang: Lang) -> Vec<Verdict> {
    if !build(lang, chosen) {
        return Vec::new();
    }
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return Vec::new();
    };
    let verdicts = runtime.block_on(async {
        let chromium = chromium_for(chosen, lang).await;
        let mut verdicts = Vec::new();
        for exercise in chosen {
            let program = Program::of(exercise.package);
            verdicts.push(check(exercise, &program, chromium.as_ref(), lang).await);
        }
        verdicts
    });
    let path = progress::default_path();
    let mut progress = Progress::load(&path);
    for (exercise, verdict) in chosen.iter().zip(&verdicts) {
        if verdict.is_done() {
            progress.record(exercise.number);
        }
    }
    let _ = progress.save(&path);
    verdicts
}

/// `cargo xtask exercise [--all]`: what has passed is printed at once from
/// the progress file; the others (all of them with `--all`) are checked.
pub fn overview(all: bool, lang: Lang) -> ExitCode {
    let progress = Progress::load(&progress::default_path());
    let total = EXERCISES.len();
    let to_check: Vec<&Exercise> = EXERCISES
        .iter()
        .filter(|exercise| all || progress.passed(exercise.number).is_none())
        .collect();
    for exercise in EXERCISES {
        if let (false, Some(when)) = (all, progress.passed(exercise.number)) {
            print_passed(exercise, when, lang);
        }
    }
    let mut done = total - to_check.len();
    let mut next = None;
    if !to_check.is_empty() {
        println!(
            "{}",
            lang.pick(
                format!(
                    "Checking {} exercise(s) against your steps ...",
                    to_check.len()
                ),
                format!("실습 {}개를 여러분의 단계로 확인합니다 ...", to_check.len()),
            )
        );
        let verdicts = check_now(&to_check, lang);
        if verdicts.is_empty() {
            return ExitCode::FAILURE;
        }
        for (exercise, verdict) in to_check.iter().zip(&verdicts) {
            print_line(exercise, verdict, lang);
            if verdict.is_done() {
                done += 1;
            } else if next.is_none() {
                next = Some(*exercise);
            }
        }
    }
    match next {
        None => println!(
            "{}",
            lang.pick(
                format!("{done}/{total} done. Every exercise passes: well done!"),
                format!("{done}/{total} 완료. 모든 실습을 통과했습니다. 수고하셨습니다!"),
            )
        ),
        Some(exercise) => println!("{}", next_line(exercise, done, lang)),
    }
    let mut shown = Vec::new();
    for exercise in &to_check {
        if !shown.contains(&exercise.changes) {
            shown.push(exercise.changes);
            print_way_back(exercise, lang, false);
        }
    }
    ExitCode::SUCCESS
}

/// `3/5 done. Next: exercise 4 ...`.
pub fn next_line(exercise: &Exercise, done: usize, lang: Lang) -> String {
    let total = EXERCISES.len();
    let n = exercise.number;
    let file = exercise.chapter_file(lang);
    lang.pick(
        format!(
            "{done}/{total} done. Next: exercise {n} ({file}, section \"Exercise\"); \
             `cargo xtask exercise {n}` checks it and says what is missing."
        ),
        format!(
            "{done}/{total} 완료. 다음은 실습 {n}입니다({file}의 \"실습\" 절). \
             `cargo xtask exercise {n}`를 실행하면 무엇이 모자란지 알려 줍니다."
        ),
    )
}

/// An exercise that passed before, from the progress file.
fn print_passed(exercise: &Exercise, when: u64, lang: Lang) {
    let number = exercise.number;
    let title = exercise.title(lang);
    let date = progress::date(when);
    println!(
        "{}",
        lang.pick(
            format!("✓ {number}. done    {title} (passed {date})"),
            format!("✓ {number}. 완료    {title} ({date}에 통과)"),
        )
    );
}

/// One line of the overview: done or not yet, and why in a few words.
pub fn print_line(exercise: &Exercise, verdict: &Verdict, lang: Lang) {
    let number = exercise.number;
    let title = exercise.title(lang);
    match verdict {
        Verdict::Done(_) => println!("✓ {number}. {} {title}", lang.pick("done   ", "완료   ")),
        Verdict::NotYet(miss) => println!(
            "✗ {number}. {} {title}\n      {}",
            lang.pick("not yet", "아직   "),
            lang.pick(
                format!("expected: {}", miss.expected),
                format!("기대한 결과: {}", miss.expected)
            )
        ),
        Verdict::Unchecked(why) => println!(
            "- {number}. {} {title}\n      {why}",
            lang.pick("unchecked", "확인 못 함")
        ),
    }
}

/// The whole story of one exercise: what it saw and where the reference
/// solution is, or what it expected, saw, and a hint.
pub fn details(exercise: &Exercise, verdict: &Verdict, lang: Lang) -> Vec<String> {
    let number = exercise.number;
    let chapter = exercise.chapter;
    let title = exercise.title(lang);
    let mut lines = vec![lang.pick(
        format!("Exercise {number} (chapter {chapter}): {title}"),
        format!("실습 {number} ({chapter}장): {title}"),
    )];
    match verdict {
        Verdict::Done(seen) => {
            lines.push(format!("✓ {seen}"));
            lines.extend(solution_lines(exercise, lang));
        }
        Verdict::NotYet(miss) => {
            let hint = miss.hint.as_deref().unwrap_or(exercise.hint(lang));
            lines.push(
                lang.pick("✗ not yet", "✗ 아직 통과하지 못했습니다")
                    .to_string(),
            );
            let [expected, saw, hint_label] = lang.pick(
                ["expected:", "saw:     ", "hint:    "],
                ["기대한 결과:", "실제 결과:  ", "힌트:       "],
            );
            lines.push(format!("  {expected} {}", miss.expected));
            lines.push(format!("  {saw} {}", miss.saw));
            lines.push(format!("  {hint_label} {hint}"));
        }
        Verdict::Unchecked(why) => lines.push(format!("- {why}")),
    }
    lines
}

/// Where the reference solution is, and the command that compares it with
/// the learner's files: shown after a pass, not before.
pub fn solution_lines(exercise: &Exercise, lang: Lang) -> Vec<String> {
    let mut lines = vec![lang.pick(
        format!(
            "The reference solution is in {}/; to compare it with yours:",
            exercise.solution
        ),
        format!(
            "참고 풀이: {}/ (여러분의 파일과 비교하는 명령은 다음과 같습니다)",
            exercise.solution
        ),
    )];
    for file in exercise.solution_files() {
        let yours = file
            .strip_prefix(exercise.solution)
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or(&file);
        // A file the solution adds, which the learner's step may not have:
        // `git diff --no-index` would only say it cannot find it.
        if !workspace_root().join(yours).exists() {
            lines.push(lang.pick(
                format!("  {file}, a file the solution adds"),
                format!("  {file} (풀이가 새로 더한 파일)"),
            ));
            continue;
        }
        lines.push(format!("  git diff --no-index {yours} {file}"));
    }
    lines
}

/// Prints how to go back to the course's version of what `exercise`
/// changes: always when `always`, otherwise only when git has a change.
pub fn print_way_back(exercise: &Exercise, lang: Lang, always: bool) {
    let path = exercise.changes;
    let way_back = WayBack::of(path);
    if always || matches!(way_back, WayBack::Command(_)) {
        println!("{}", way_back.sentence(path, lang));
    }
}
