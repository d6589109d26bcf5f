//! The verify report: one line per check as it finishes, and a total.
//!
//! A check's line starts with ✓ (passed), ✗ (failed) or - (skipped), then
//! the step and what was seen. A failure also prints what the server said,
//! since that usually explains it.

use std::process::ExitCode;
use std::time::Instant;

/// What one check found.
pub enum Verdict {
    /// What was seen, in a few words.
    Passed(String),
    /// What was wrong, and the server's output that may explain it.
    Failed {
        problem: String,
        output: Vec<String>,
    },
    /// Why the check did not run, and how to make it run.
    Skipped(String),
}

pub struct Outcome {
    /// Which part of the project was checked: `step1`, `step2`, `docs`, ...
    pub subject: String,
    pub verdict: Verdict,
}

pub struct Report {
    started: Instant,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Report {
    pub fn new() -> Self {
        Report {
            started: Instant::now(),
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    pub fn record(&mut self, outcome: &Outcome) {
        let subject = &outcome.subject;
        match &outcome.verdict {
            Verdict::Passed(seen) => {
                self.passed += 1;
                println!("✓ {subject:<6} {seen}");
            }
            Verdict::Failed { problem, output } => {
                self.failed += 1;
                println!("✗ {subject:<6} {problem}");
                if !output.is_empty() {
                    println!("    what the process printed:");
                    for line in output.iter().rev().take(30).rev() {
                        println!("    | {line}");
                    }
                }
            }
            Verdict::Skipped(why) => {
                self.skipped += 1;
                println!("- {subject:<6} skipped: {why}");
            }
        }
    }

    /// Prints the last line and turns the result into the exit status.
    pub fn finish(self) -> ExitCode {
        let seconds = self.started.elapsed().as_secs_f64();
        println!("Finished in {seconds:.1} s");
        let mut total = format!("verify: {} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            total += &format!(", {} skipped", self.skipped);
        }
        println!("{total}");
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
