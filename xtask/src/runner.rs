//! The runner behind `cargo xtask verify` and `cargo xtask docs`: it runs
//! groups of checks side by side, and prints them in the order they were
//! named, each under a heading with its count, then a total.
//!
//! A group is an async function that takes a [`Sink`] and records one
//! outcome per check in it. All groups start at once, so the slowest one
//! (the browser) sets the running time; their lines are held back until a
//! group and every group named before it are complete, so that the report
//! reads in the course's order however the checks interleave.
//!
//! Every word the runner prints is in [`text`] at the end of this file, in
//! English and Korean.

use std::future::Future;
use std::process::ExitCode;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::lang::Lang;
use crate::steps::Output;

/// What one check found.
pub enum Verdict {
    /// What was seen, in a few words.
    Passed(String),
    /// What was wrong, and the output of the process that may explain it.
    Failed {
        problem: String,
        output: Vec<String>,
    },
    /// Why the check did not run, and how to make it run.
    Skipped(String),
}

pub struct Outcome {
    /// What was checked: `step1`, `step2`, `docs`, ...
    pub subject: String,
    pub verdict: Verdict,
}

/// Where a group's checks deliver their outcomes as they finish.
#[derive(Clone)]
pub struct Sink(mpsc::UnboundedSender<Outcome>);

impl Sink {
    /// A sink and the receiving end of its outcomes. The outcomes end when
    /// every clone of the sink is gone.
    pub fn new() -> (Sink, mpsc::UnboundedReceiver<Outcome>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Sink(sender), receiver)
    }

    /// Records a check's result; a failure carries the process output that
    /// may explain it, and says where in xtask the check was recorded, so
    /// that its line names the check even when the problem does not.
    #[track_caller]
    pub fn record(&self, subject: &str, result: anyhow::Result<String>, output: Option<&Output>) {
        let at = std::panic::Location::caller();
        let verdict = match result {
            Ok(seen) => Verdict::Passed(seen),
            Err(problem) => Verdict::Failed {
                problem: format!("{problem:#} [{}:{}]", at.file(), at.line()),
                output: output.map(Output::lines).unwrap_or_default(),
            },
        };
        let _ = self.0.send(Outcome {
            subject: subject.to_string(),
            verdict,
        });
    }

    pub fn skip(&self, subject: &str, why: String) {
        let _ = self.0.send(Outcome {
            subject: subject.to_string(),
            verdict: Verdict::Skipped(why),
        });
    }
}

/// The groups of one run, in the order they will be printed.
pub struct Plan {
    groups: Vec<(&'static str, JoinHandle<Vec<Outcome>>)>,
}

impl Plan {
    /// Starts a group of checks at once, to be printed under `heading`
    /// after the groups named before it.
    pub fn group<F>(&mut self, heading: &'static str, checks: impl FnOnce(Sink) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (sink, mut outcomes) = Sink::new();
        let checking = tokio::spawn(checks(sink));
        let collecting = tokio::spawn(async move {
            let mut collected = Vec::new();
            while let Some(outcome) = outcomes.recv().await {
                collected.push(outcome);
            }
            // A group that panics has dropped its sink on the way out, so
            // the loop above ended; its unfinished checks count as failed.
            if let Err(stopped) = checking.await {
                collected.push(Outcome {
                    subject: heading.to_string(),
                    verdict: Verdict::Failed {
                        problem: text::group_stopped(&stopped.to_string()),
                        output: Vec::new(),
                    },
                });
            }
            collected
        });
        self.groups.push((heading, collecting));
    }
}

/// How many checks passed, failed and were skipped.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    fn of(outcomes: &[Outcome]) -> Counts {
        let mut counts = Counts::default();
        for outcome in outcomes {
            match outcome.verdict {
                Verdict::Passed(_) => counts.passed += 1,
                Verdict::Failed { .. } => counts.failed += 1,
                Verdict::Skipped(_) => counts.skipped += 1,
            }
        }
        counts
    }
}

/// Runs the groups that `plan_groups` names side by side and prints them
/// in that order; the last line counts every check under `title`
/// (`verify: 44 passed, 0 failed`). The exit status is 1 when a check
/// failed, 130 when interrupted with Ctrl+C.
pub fn run(
    title: &str,
    lang: Lang,
    plan_groups: impl FnOnce(&mut Plan),
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(async {
        let mut plan = Plan { groups: Vec::new() };
        plan_groups(&mut plan);
        println!("{}", text::checking(plan.groups.len(), lang));

        // Ctrl+C reaches the steps and Chromium through the terminal too.
        // Catching it here, rather than dying at once, lets the unfinished
        // checks clean up (Chromium's temporary profile is deleted) when
        // the runtime drops them on the way out.
        tokio::select! {
            total = report(plan, lang, |line| println!("{line}")) => {
                println!();
                println!("{}", text::finished(started.elapsed().as_secs_f64(), lang));
                println!("{}", text::total(title, total, lang));
                if total.failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            _ = tokio::signal::ctrl_c() => {
                println!("{}", text::interrupted(title, lang));
                ExitCode::from(130)
            }
        }
    });
    Ok(code)
}

/// Hands each group's lines to `print` in the planned order, and returns
/// the count of all. Awaiting the groups one after the other prints each
/// as soon as it and all before it are complete, while the later ones
/// keep running.
async fn report(plan: Plan, lang: Lang, mut print: impl FnMut(String)) -> Counts {
    let mut total = Counts::default();
    for (heading, collecting) in plan.groups {
        let outcomes = match collecting.await {
            Ok(outcomes) => outcomes,
            Err(stopped) => vec![Outcome {
                subject: heading.to_string(),
                verdict: Verdict::Failed {
                    problem: text::group_stopped(&stopped.to_string()),
                    output: Vec::new(),
                },
            }],
        };
        let counts = Counts::of(&outcomes);
        print(String::new());
        print(text::heading(heading, counts, lang));
        for line in check_lines(heading, &outcomes, lang) {
            print(line);
        }
        total.add(counts);
    }
    total
}

/// One line per check, and under a failure the last lines the process
/// printed. The subject is shown only in a group that holds more than one
/// (the browser group checks every step). A failing line names its group
/// and which of its checks failed, so that it says so when read alone.
fn check_lines(heading: &str, outcomes: &[Outcome], lang: Lang) -> Vec<String> {
    let mixed = outcomes
        .iter()
        .any(|outcome| outcome.subject != outcomes[0].subject);
    let mut lines = Vec::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        let subject = if mixed {
            format!("{:<6} ", outcome.subject)
        } else {
            String::new()
        };
        match &outcome.verdict {
            Verdict::Passed(seen) => lines.push(format!("✓ {subject}{seen}")),
            Verdict::Failed { problem, output } => {
                let which = text::which_check(heading, index + 1, outcomes.len(), lang);
                lines.push(format!("✗ {subject}{which}: {problem}"));
                if !output.is_empty() {
                    lines.push(format!("    {}", text::process_printed(lang)));
                    for line in output.iter().rev().take(30).rev() {
                        lines.push(format!("    | {line}"));
                    }
                }
            }
            Verdict::Skipped(why) => {
                lines.push(format!("- {subject}{}", text::skipped(why, lang)));
            }
        }
    }
    lines
}

/// Every word the runner prints, and the headings of the groups, in one
/// place, in English and Korean (`--lang`, or the locale: see `lang`).
pub mod text {
    use super::Counts;
    use crate::lang::Lang;

    /// The groups of `cargo xtask verify`, in the course's order.
    pub fn step1(lang: Lang) -> &'static str {
        lang.pick(
            "Step 1, the WebSocket-only server",
            "1단계: 웹소켓 전용 서버",
        )
    }

    pub fn step2(lang: Lang) -> &'static str {
        lang.pick(
            "Step 2, the page and the program that plays the browser",
            "2단계: 웹 페이지와 브라우저 흉내를 내는 프로그램",
        )
    }

    pub fn step3(lang: Lang) -> &'static str {
        lang.pick(
            "Step 3, page and WebSocket on one port",
            "3단계: 페이지와 웹소켓을 한 포트에서",
        )
    }

    pub fn step4(lang: Lang) -> &'static str {
        lang.pick(
            "Step 4, many servers sharing one chat through Redis",
            "4단계: Redis로 채팅 하나를 나눠 쓰는 여러 서버",
        )
    }

    pub fn browser(lang: Lang) -> &'static str {
        lang.pick(
            "In a real browser (headless Chromium)",
            "실제 브라우저에서 (헤드리스 Chromium)",
        )
    }

    pub fn docs(lang: Lang) -> &'static str {
        lang.pick("The walkthroughs in docs/", "docs/ 의 설명서")
    }

    /// Above the output of a process, under a failed check.
    pub fn process_printed(lang: Lang) -> &'static str {
        lang.pick("what the process printed:", "프로세스가 출력한 내용:")
    }

    /// The progress line before the first group is complete.
    pub fn checking(groups: usize, lang: Lang) -> String {
        match (groups, lang) {
            (1, Lang::En) => "Running the checks ...".to_string(),
            (1, Lang::Ko) => "확인을 실행합니다 ...".to_string(),
            (many, Lang::En) => format!(
                "Running {many} groups of checks side by side; each is printed once it and those above it are done ..."
            ),
            (many, Lang::Ko) => format!(
                "확인 묶음 {many}개를 함께 실행합니다. 각 묶음은 자신과 그 위의 묶음이 모두 끝나면 출력됩니다 ..."
            ),
        }
    }

    pub fn heading(heading: &str, counts: Counts, lang: Lang) -> String {
        format!("{heading}: {}", numbers(counts, lang))
    }

    /// `Step 1, ..., check 3 of 9`, for a failing line.
    pub fn which_check(heading: &str, number: usize, of: usize, lang: Lang) -> String {
        lang.pick(
            format!("{heading}, check {number} of {of}"),
            format!("{heading}, 확인 {of}개 중 {number}번째"),
        )
    }

    pub fn skipped(why: &str, lang: Lang) -> String {
        lang.pick(format!("skipped: {why}"), format!("건너뜀: {why}"))
    }

    pub fn group_stopped(why: &str) -> String {
        format!("these checks stopped before they finished: {why}")
    }

    pub fn finished(seconds: f64, lang: Lang) -> String {
        lang.pick(
            format!("Finished in {seconds:.1} s"),
            format!("{seconds:.1}초 만에 끝났습니다"),
        )
    }

    /// The last line: `verify: 44 passed, 0 failed`.
    pub fn total(title: &str, counts: Counts, lang: Lang) -> String {
        format!("{title}: {}", numbers(counts, lang))
    }

    pub fn interrupted(title: &str, lang: Lang) -> String {
        lang.pick(
            format!("{title}: interrupted (Ctrl+C)"),
            format!("{title}: 중단되었습니다 (Ctrl+C)"),
        )
    }

    /// `12 passed, 0 failed`, and the skipped ones when there are any.
    fn numbers(counts: Counts, lang: Lang) -> String {
        let Counts {
            passed,
            failed,
            skipped,
        } = counts;
        match (lang, skipped) {
            (Lang::En, 0) => format!("{passed} passed, {failed} failed"),
            (Lang::En, _) => format!("{passed} passed, {failed} failed, {skipped} skipped"),
            (Lang::Ko, 0) => format!("통과 {passed}, 실패 {failed}"),
            (Lang::Ko, _) => format!("통과 {passed}, 실패 {failed}, 건너뜀 {skipped}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::anyhow;
    use tokio::sync::oneshot;

    use super::*;

    fn new_plan() -> Plan {
        Plan { groups: Vec::new() }
    }

    #[tokio::test]
    async fn groups_print_in_the_planned_order_whatever_order_they_finish_in() {
        let mut plan = new_plan();
        for (heading, delay_ms) in [("first", 300), ("second", 0), ("third", 100)] {
            plan.group(heading, move |sink| async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                sink.record(heading, Ok(format!("{heading} done")), None);
            });
        }
        let mut printed = Vec::new();
        let total = report(plan, Lang::En, |line| printed.push(line)).await;
        let checks: Vec<&str> = printed
            .iter()
            .filter(|line| line.starts_with('✓'))
            .map(String::as_str)
            .collect();
        assert_eq!(checks, ["✓ first done", "✓ second done", "✓ third done"]);
        assert_eq!(printed[1], "first: 1 passed, 0 failed");
        assert_eq!(total.passed, 3);
    }

    /// The second group finishes only after the first has been printed, so
    /// a runner that waited for every group before printing never ends.
    #[tokio::test]
    async fn a_complete_group_is_printed_while_later_ones_still_run() {
        let (printed_first, first_was_printed) = oneshot::channel::<()>();
        let mut plan = new_plan();
        plan.group("first", |sink| async move {
            sink.record("first", Ok("quick".to_string()), None);
        });
        plan.group("second", |sink| async move {
            let _ = first_was_printed.await;
            sink.record(
                "second",
                Ok("after the first was printed".to_string()),
                None,
            );
        });
        let mut printed_first = Some(printed_first);
        let reporting = report(plan, Lang::En, |line| {
            if line == "✓ quick" {
                printed_first.take().map(|sender| sender.send(()));
            }
        });
        let total = tokio::time::timeout(Duration::from_secs(5), reporting)
            .await
            .expect("the first group was not printed until the second finished");
        assert_eq!(total.passed, 2);
    }

    #[tokio::test]
    async fn a_failure_shows_what_the_process_printed_and_a_panic_counts_as_a_failure() {
        let output = Output::new();
        output.push("Listening on 127.0.0.1:8080".to_string());
        output.push("thread 'main' panicked".to_string());
        let mut plan = new_plan();
        plan.group("failing", move |sink| async move {
            sink.record("step1", Err(anyhow!("no greeting")), Some(&output));
            sink.skip("step1", "no browser".to_string());
        });
        plan.group("panicking", |_sink| async { panic!("a bug in a check") });
        let mut printed = Vec::new();
        let total = report(plan, Lang::En, |line| printed.push(line)).await;
        // The failing line names its group, which check, and where in xtask
        // it was recorded.
        assert!(
            printed[2].starts_with("✗ failing, check 1 of 2: no greeting [xtask/src/runner.rs:"),
            "{printed:?}"
        );
        printed[2] = "✗ no greeting".to_string();
        let failing = [
            "failing: 0 passed, 1 failed, 1 skipped",
            "✗ no greeting",
            "    what the process printed:",
            "    | Listening on 127.0.0.1:8080",
            "    | thread 'main' panicked",
            "- skipped: no browser",
        ];
        assert_eq!(printed[1..7], failing);
        assert_eq!(printed[8], "panicking: 0 passed, 1 failed");
        assert!(
            printed[9].starts_with("✗ panicking, check 1 of 1: these checks stopped"),
            "{printed:?}"
        );
        assert_eq!((total.passed, total.failed, total.skipped), (0, 2, 1));
    }

    #[tokio::test]
    async fn the_runner_speaks_korean_when_asked() {
        let mut plan = new_plan();
        plan.group(text::step1(Lang::Ko), |sink| async move {
            sink.record("step1", Ok("인사".to_string()), None);
            sink.skip("step1", "브라우저 없음".to_string());
        });
        let mut printed = Vec::new();
        report(plan, Lang::Ko, |line| printed.push(line)).await;
        assert_eq!(
            printed[1..],
            [
                "1단계: 웹소켓 전용 서버: 통과 1, 실패 0, 건너뜀 1",
                "✓ 인사",
                "- 건너뜀: 브라우저 없음",
            ]
        );
        assert_eq!(
            text::total("verify", Counts::default(), Lang::Ko),
            "verify: 통과 0, 실패 0"
        );
    }
}
