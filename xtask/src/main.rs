//! `cargo xtask`: the project's own tools, written in Rust like the rest.
//!
//! - `cargo xtask verify` runs every step and checks that it behaves as the
//!   walkthroughs say. Instructors run it before a class.
//! - `cargo xtask load` measures a server step under many clients.
//! - `cargo xtask bytes` shows a WebSocket's first bytes, from a running
//!   step, as chapter 4 of the walkthroughs reads them.
//! - `cargo xtask exercise` checks a learner's answers to the chapters'
//!   exercises, in Korean or English.
//! - `cargo xtask polling` measures what chapter 0 says polling costs.
//! - `cargo xtask docs` checks the walkthroughs against the code, and
//!   `cargo xtask docs sync` rewrites their code blocks and outputs from it.
//!
//! Each subcommand lives in its own module; `wire` is the one raw
//! WebSocket codec and HTTP client they all use. The test-only suites live
//! apart from the commands, in `suites/`: `abuse` (what a hostile or
//! broken client does to the steps), `proxy` (the steps behind nginx) and
//! `copies` (a step built from a changed copy of its files).
//!
//! Where a new check belongs:
//!
//! - a behaviour a chapter states about a step, checked against the
//!   course's own step: `verify` (a function in `checks/`, in the group of
//!   its step);
//! - what a walkthrough shows (a code block, a command's output): a docs
//!   scenario (`docs/`), which `cargo xtask docs` runs and compares;
//! - what a learner's answer to an exercise must do: an exercise
//!   (`exercise/list.rs` and `exercise/checks/`; see `exercises/README.md`);
//! - anything else that guards the course, such as hostile clients or a
//!   changed step that must fail: a test, in `suites/` or beside the code
//!   it tests, run by `cargo test --workspace`.

#[cfg(test)]
#[path = "suites/abuse.rs"]
mod abuse;
mod browser;
mod bytes;
mod checks;
#[cfg(test)]
#[path = "suites/copies.rs"]
mod copies;
mod course;
mod crowd;
mod docs;
mod exercise;
mod lang;
mod load;
mod many_servers;
mod polling;
#[cfg(test)]
#[path = "suites/proxy.rs"]
mod proxy;
mod runner;
#[cfg(test)]
mod step4;
#[cfg(test)]
mod step4_coming_back;
#[cfg(test)]
mod step4_faults;
#[cfg(test)]
mod step4_hostile;
mod steps;
mod tools;
mod verify;
mod wire;

use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  verify [--step N] [--no-browser] [--lang ko|en]
                                     run every step and check its behaviour
  exercise [N] [--lang ko|en]        check your answers to the chapters' exercises
  load --step N [--clients N]        measure a server step under many clients
  load --program PATH [--clients N]  the same for another server (PORT=0, address first)
  bytes [ADDRESS]                    show a WebSocket's first bytes (default localhost:8080)
  polling                            measure polling against a WebSocket (bytes, delay)
  docs [check]                       check the walkthroughs against the code
  docs sync                          rewrite their code blocks and outputs from it
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("", &[][..]),
    };
    let result = match command {
        "verify" => verify::run(rest),
        "exercise" => exercise::run(rest),
        "load" => load::run(rest),
        "bytes" => bytes::run(rest),
        "polling" => polling::run(rest),
        "docs" => docs::command(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            if !other.is_empty() {
                eprintln!("error: unknown command `{other}`\n");
            }
            eprint!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
