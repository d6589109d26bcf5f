//! `cargo xtask load`: many clients against a server step, measured.
//!
//! Two kinds of load, one module each:
//!
//! - `greetings`, for steps 1 and 3 (or another program started like
//!   them): many clients each take the greeting and send one message,
//!   and while they are all connected the server's memory and processor
//!   time are read;
//! - `chat`, for step 4: a real `redis-server` and two instances, with
//!   thousands of listeners split between them and one sender at a steady
//!   rate, then faster and faster, and a page that stops reading.
//!
//! Both build the step in release mode (a measurement of the debug build
//! would say more about the missing optimisations than about the server)
//! and start it on free loopback ports. The clients run on the same
//! machine as the server, so they are part of the measurement: they are
//! built in release mode too (`cargo xtask load` starts the release build
//! of this tool), and run on one thread.
//!
//! The servers are measured through Linux's `/proc`; where there is none
//! (macOS, Windows), or where step 4's `redis-server` is missing, the
//! command says so in one line before it builds anything.

mod chat;
mod chat_runs;
mod greetings;
mod memory;
mod pages;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};

#[cfg(test)]
pub use pages::{Arrivals, Ending, line_text, listen, open_page, stop_reading};

use crate::lang::Lang;
use crate::steps::{self, Build};

/// The most clients we open: each needs a file on both sides.
const MAX_CLIENTS: usize = 10_000;

/// Open files each process needs besides one per client: standard streams,
/// listeners, the runtime's own, and cargo's while it builds.
const SPARE_FILES: u64 = 256;

/// What to load.
#[derive(Clone)]
enum Target {
    /// Steps 1 and 3, or another program: one server greets many clients.
    Greetings(greetings::Options),
    /// Step 4: one chat, two instances, many listeners.
    Chat(chat::Options),
}

fn parse(args: &[String]) -> anyhow::Result<Target> {
    let mut server = None;
    let mut chat = false;
    let mut clients = None;
    let mut listeners = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().map(String::as_str).unwrap_or_default();
        match arg.as_str() {
            "--step" => match value {
                "1" => server = Some(greetings::Server::Step("step1")),
                "3" => server = Some(greetings::Server::Step("step3")),
                "4" => chat = true,
                _ => bail!("--step takes 1, 3 or 4 (the server steps), not `{value}`"),
            },
            "--program" => {
                let path = PathBuf::from(value);
                ensure!(
                    path.is_file(),
                    "--program takes the path of a server to start, and there is no file at `{value}`"
                );
                // As a path, not a name to look up in PATH.
                server = Some(greetings::Server::Program(std::path::absolute(path)?))
            }
            "--clients" => {
                clients = match value.parse() {
                    Ok(count @ 1..=MAX_CLIENTS) => Some(count),
                    _ => bail!("--clients takes a number from 1 to {MAX_CLIENTS}, not `{value}`"),
                }
            }
            "--listeners" => listeners = Some(parse_listeners(value)?),
            other => bail!(
                "unknown option `{other}` (try `cargo xtask load --step 1 --clients 2000` \
                 or `cargo xtask load --step 4`)"
            ),
        }
    }
    match (server, chat) {
        (Some(_), true) => bail!("--step 4 loads step 4 alone: leave out --program"),
        (None, true) => {
            ensure!(
                clients.is_none(),
                "step 4's clients are listeners: use --listeners 1000,5000, not --clients"
            );
            let listeners = listeners.unwrap_or_else(|| chat::LISTENERS.to_vec());
            Ok(Target::Chat(chat::Options::new(listeners)))
        }
        (Some(server), false) => {
            ensure!(
                listeners.is_none(),
                "--listeners is for step 4's chat; steps 1 and 3 take --clients"
            );
            let clients = clients.unwrap_or(2000);
            Ok(Target::Greetings(greetings::Options { server, clients }))
        }
        (None, false) => bail!(
            "say which server to load: --step 1, --step 3 or --step 4, or --program PATH for another one"
        ),
    }
}

/// `1000,5000`: the listener counts to measure, one after the other.
fn parse_listeners(value: &str) -> anyhow::Result<Vec<usize>> {
    let counts: Option<Vec<usize>> = value
        .split(',')
        .map(|count| match count.trim().parse() {
            Ok(count @ 2..=MAX_CLIENTS) => Some(count),
            _ => None,
        })
        .collect();
    counts.filter(|counts| !counts.is_empty()).with_context(|| {
        format!(
            "--listeners takes numbers from 2 to {MAX_CLIENTS} split by commas, \
             such as 1000,5000, not `{value}`"
        )
    })
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut args = args.to_vec();
    let lang = Lang::take_from(&mut args)?;
    let args = &args[..];
    let target = parse(args)?;
    let refusal = cannot_measure(Path::new("/proc"), lang).or_else(|| match target {
        Target::Chat(_) => chat::cannot_start(lang),
        Target::Greetings(_) => None,
    });
    if let Some(refusal) = refusal {
        eprintln!("{refusal}");
        return Ok(ExitCode::FAILURE);
    }
    if cfg!(debug_assertions) {
        return run_release_build(args, lang);
    }
    prepare(&target)?;
    // One thread does the clients' little work with the least switching
    // between threads, and leaves the other cores to the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let all_well = match &target {
        Target::Greetings(options) => {
            let measured = runtime.block_on(greetings::measure(options, |greeted, failed| {
                show_progress(&format!(
                    "greeted {greeted} of {}, {failed} failed",
                    options.clients
                ))
            }))?;
            println!();
            for line in &measured.report {
                println!("{line}");
            }
            measured.all_well
        }
        Target::Chat(options) => {
            // Each count's lines as soon as it is done, over the progress line.
            let print = |lines: &[String]| {
                for line in lines {
                    println!("\r{line:<72}");
                }
            };
            runtime
                .block_on(chat::measure(options, &show_progress, &print))?
                .all_well
        }
    };
    Ok(if all_well {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A progress line, written over the last one: `\r` goes back to the
/// start of the line in every terminal.
fn show_progress(line: &str) {
    let mut stdout = std::io::stdout();
    // The spaces wipe what a longer line before it left.
    let _ = write!(stdout, "\r  {line:<70}");
    let _ = stdout.flush();
}

/// The clients share the machine with the server: a debug build's clients
/// would take more of it than the server itself, and measure themselves
/// rather than the server. So this debug build (`cargo xtask`) builds the
/// release build of this tool and hands the measurement to it.
fn run_release_build(args: &[String], lang: Lang) -> anyhow::Result<ExitCode> {
    steps::build_release("xtask", "so that its clients are as quick as the server")?;
    let status = std::process::Command::new(steps::binary("xtask", Build::Release))
        .arg("load")
        .args(args)
        .args(["--lang", lang.pick("en", "ko")])
        .status()
        .context("cannot start the release build of xtask")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Why this system cannot be measured, in the learner's language: `None`
/// where `proc` (`/proc` but in tests) has what `crowd` reads.
fn cannot_measure(proc: &Path, lang: Lang) -> Option<String> {
    let readable = ["self/status", "self/stat", "self/limits"]
        .iter()
        .all(|file| std::fs::read_to_string(proc.join(file)).is_ok());
    (!readable).then(|| {
        lang.pick(
            "cargo xtask load measures the server through /proc, which only Linux has: \
             on Windows run it in WSL 2, on macOS in a Linux virtual machine or container \
             (the steps themselves run everywhere)",
            "cargo xtask load 는 서버를 리눅스에만 있는 /proc 으로 측정하므로 이 시스템에서는 \
             잴 수 없습니다. Windows 에서는 WSL 2 안에서, macOS 에서는 리눅스 가상 머신이나 \
             컨테이너 안에서 실행하세요 (단계 서버 자체는 어디서나 돌아갑니다)",
        )
        .to_string()
    })
}

/// What chapter 4 shows: `cargo xtask load --step 1 --clients 500`, run
/// for real, without the progress line. Returns the lines.
///
/// This runs in the docs check, whose tool is the debug build, so its
/// clients greet more slowly than the release build's that the command
/// uses. The figures are not compared (they vary anyway), and the
/// chapter's block keeps the figures of a run of the command itself.
pub async fn transcript() -> anyhow::Result<Vec<String>> {
    let options = greetings::Options {
        server: greetings::Server::Step("step1"),
        clients: 500,
    };
    let target = Target::Greetings(options.clone());
    tokio::task::spawn_blocking(move || prepare(&target)).await??;
    let measured = greetings::measure(&options, |_, _| {}).await?;
    let mut lines = vec![format!(
        "$ cargo xtask load --step 1 --clients {}",
        options.clients
    )];
    lines.extend(measured.report);
    Ok(lines)
}

/// What chapter 6 shows: `cargo xtask load --step 4 --listeners 1000`,
/// run for real in the docs check (see `chat::transcript`).
pub async fn chat_transcript() -> anyhow::Result<Vec<String>> {
    let options = chat::Options::new(vec![chat::LISTENERS[0]]);
    let target = Target::Chat(options.clone());
    tokio::task::spawn_blocking(move || prepare(&target)).await??;
    chat::transcript(options).await
}

/// Makes room for the open files, then builds the step in release mode.
fn prepare(target: &Target) -> anyhow::Result<()> {
    let (clients, option) = match target {
        Target::Greetings(options) => (options.clients, "--clients"),
        Target::Chat(options) => (options.most_listeners(), "--listeners"),
    };
    // One socket for each client here and one in the server, which
    // inherits the limit of this process.
    crate::crowd::ensure_open_files(clients as u64 + SPARE_FILES)
        .with_context(|| format!("{option} {clients}"))?;
    match target {
        Target::Greetings(options) => greetings::build(options),
        Target::Chat(_) => steps::build_release("step4", "as a real service would run it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    /// Where there is no /proc (macOS, Windows), one line says so in the
    /// learner's language; here, Linux, there is nothing to say.
    #[test]
    fn a_system_without_proc_is_refused_in_one_line() {
        let nowhere = Path::new("/no/such/proc");
        let english = cannot_measure(nowhere, Lang::En).unwrap();
        assert!(
            english.contains("only Linux has") && english.contains("WSL 2"),
            "{english}"
        );
        assert!(!english.contains('\n'));
        let korean = cannot_measure(nowhere, Lang::Ko).unwrap();
        assert!(korean.contains("리눅스에만 있는 /proc"), "{korean}");
        assert_eq!(cannot_measure(Path::new("/proc"), Lang::En), None);
    }

    #[test]
    fn a_missing_program_or_step_is_named() {
        let error = parse(&args(&["--program", "no/such/server"]))
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "--program takes the path of a server to start, and there is no file at `no/such/server`"
        );
        let error = parse(&args(&["--clients", "10"])).err().unwrap();
        assert!(error.to_string().contains("--step 1"), "{error}");
        let error = parse(&args(&["--step", "2"])).err().unwrap();
        assert!(error.to_string().contains("not `2`"), "{error}");
    }

    /// Step 4 takes listener counts, and says so to a learner who gives
    /// it clients, or a count it cannot use.
    #[test]
    fn step_4_takes_listeners() {
        let Ok(Target::Chat(options)) = parse(&args(&["--step", "4"])) else {
            panic!("--step 4 alone is the chat");
        };
        assert_eq!(options.listeners, [1000, 5000]);
        let Ok(Target::Chat(options)) = parse(&args(&["--step", "4", "--listeners", "300,40"]))
        else {
            panic!("--listeners 300,40 is two counts");
        };
        assert_eq!(options.listeners, [300, 40]);
        for (words, expected) in [
            (&["--step", "4", "--clients", "10"][..], "--listeners"),
            (&["--step", "4", "--listeners", "1000,x"], "not `1000,x`"),
            (&["--step", "4", "--listeners", "1"], "from 2 to"),
            (&["--step", "1", "--listeners", "10"], "step 4"),
        ] {
            let error = parse(&args(words)).err().unwrap().to_string();
            assert!(error.contains(expected), "{words:?}: {error}");
        }
    }
}
