//! `cargo xtask exercise --watch`: a coach, in the manner of rustlings.
//!
//! It checks the current exercise (the one given, or the first not yet
//! passed), then waits: each time a file of what the exercise changes is
//! saved, it builds and checks again. It shows `n/N` and what comes next,
//! and takes keys: `h` hint, `l` list, `n` next, `c` check all, `q` quit.
//! On Linux and macOS a key counts as it is pressed: the coach asks the
//! terminal, through the `stty` command, to hand over each key at once and
//! not to echo it, and puts the terminal back as it was when it ends (the
//! standard library has no call for this, and it is not worth a
//! dependency). Ctrl+C then arrives as a key too, and quits the same way.
//! Where `stty` is not there (Windows), a key is a line: the letter, then
//! Enter.
//!
//! Without a terminal (a script, CI) it prints and exits as without
//! `--watch`.

use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::progress::{self, Progress};
use super::report::{self, details, next_line, print_way_back};
use super::{EXERCISES, Options, Verdict};
use crate::lang::Lang;
use crate::steps::workspace_root;

/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(500);

pub fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let lang = options.lang;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Ok(match options.only {
            Some(number) => report::one(number, lang),
            None => report::overview(options.all, lang),
        });
    }
    let terminal = KeysAsPressed::start();
    let keys = read_keys(terminal.is_on());
    let mut current = match options.only {
        Some(number) => index_of(number),
        None => first_not_passed(),
    };
    let mut verdict = check_and_show(current, lang);
    let mut seen = snapshot(EXERCISES[current].changes);
    loop {
        match keys.recv_timeout(POLL) {
            Ok(key) => match key.trim() {
                "q" => return Ok(ExitCode::SUCCESS),
                "h" => {
                    let exercise = &EXERCISES[current];
                    let hint = match &verdict {
                        Some(Verdict::NotYet(miss)) => miss.hint.clone(),
                        _ => None,
                    };
                    let hint = hint.unwrap_or_else(|| exercise.hint(lang).to_string());
                    println!("{} {hint}", lang.pick("hint:", "힌트:"));
                }
                "l" => print_list(current, lang),
                "n" => {
                    current = (current + 1) % EXERCISES.len();
                    verdict = check_and_show(current, lang);
                    seen = snapshot(EXERCISES[current].changes);
                }
                "c" => {
                    report::overview(true, lang);
                    print_keys(lang);
                }
                "" => verdict = check_and_show(current, lang),
                other => println!(
                    "{}",
                    lang.pick(
                        format!("`{other}` is not a key here."),
                        format!("`{other}`는 여기서 쓰는 키가 아닙니다."),
                    )
                ),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = snapshot(EXERCISES[current].changes);
                if now != seen {
                    seen = now;
                    verdict = check_and_show(current, lang);
                }
            }
            // Standard input closed (Ctrl+D): nothing more to read.
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn index_of(number: u8) -> usize {
    EXERCISES
        .iter()
        .position(|exercise| exercise.number == number)
        .unwrap_or(0)
}

fn first_not_passed() -> usize {
    let progress = Progress::load(&progress::default_path());
    EXERCISES
        .iter()
        .position(|exercise| progress.passed(exercise.number).is_none())
        .unwrap_or(0)
}

/// Whether keys count as they are pressed, for the line that lists them.
static ONE_KEY_AT_A_TIME: AtomicBool = AtomicBool::new(false);

/// The terminal set to hand over each key at once, without echoing it and
/// with Ctrl+C as a key rather than a signal; dropping it restores the
/// settings it found. Off when `stty` is missing or fails.
struct KeysAsPressed {
    saved: Option<String>,
}

impl KeysAsPressed {
    fn start() -> KeysAsPressed {
        let stty = |args: &[&str]| {
            Command::new("stty")
                .args(args)
                .stdin(Stdio::inherit())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|output| output.status.success())
        };
        let saved = stty(&["-g"])
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
            .filter(|saved| !saved.is_empty())
            .filter(|_| stty(&["-icanon", "-echo", "-isig", "min", "1"]).is_some());
        ONE_KEY_AT_A_TIME.store(saved.is_some(), Ordering::Relaxed);
        KeysAsPressed { saved }
    }

    fn is_on(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for KeysAsPressed {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = Command::new("stty")
                .arg(saved)
                .stdin(Stdio::inherit())
                .status();
        }
    }
}

/// The keys typed on standard input, from a thread of their own: each key
/// as it is pressed when `one_at_a_time`, else each line. Enter alone is
/// the empty key; Ctrl+C and Ctrl+D are `q`.
fn read_keys(one_at_a_time: bool) -> mpsc::Receiver<String> {
    let (sender, keys) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin().lock();
        if one_at_a_time {
            for byte in stdin.bytes() {
                let key = match byte {
                    Ok(b'\n' | b'\r') => String::new(),
                    Ok(0x03 | 0x04) | Err(_) => "q".to_string(),
                    Ok(byte) if byte.is_ascii() => char::from(byte).to_string(),
                    // Part of a key that is not a letter of ours (an
                    // arrow, a Korean syllable): not a key here.
                    Ok(_) => continue,
                };
                let quit = key == "q";
                if sender.send(key).is_err() || quit {
                    break;
                }
            }
        } else {
            for line in stdin.lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        }
    });
    keys
}

/// Checks exercise `current` and prints its story, where it stands, and
/// the keys.
fn check_and_show(current: usize, lang: Lang) -> Option<Verdict> {
    let exercise = &EXERCISES[current];
    let total = EXERCISES.len();
    println!();
    println!(
        "{}",
        lang.pick(
            format!("── exercise {}/{total} ──", current + 1),
            format!("── 실습 {}/{total} ──", current + 1),
        )
    );
    let verdict = report::check_now(&[exercise], lang).pop();
    if let Some(verdict) = &verdict {
        for line in details(exercise, verdict, lang) {
            println!("{line}");
        }
        print_way_back(exercise, lang, false);
    }
    let progress = Progress::load(&progress::default_path());
    let done = EXERCISES
        .iter()
        .filter(|exercise| progress.passed(exercise.number).is_some())
        .count();
    let next = EXERCISES
        .iter()
        .cycle()
        .skip(current + 1)
        .take(total)
        .find(|exercise| progress.passed(exercise.number).is_none());
    match (verdict.as_ref().is_some_and(Verdict::is_done), next) {
        (true, Some(next)) => println!("{}", next_line(next, done, lang)),
        (true, None) => println!(
            "{}",
            lang.pick(
                format!("{done}/{total} done. Every exercise passes: well done!"),
                format!("{done}/{total} 완료. 모든 실습을 통과했습니다. 수고하셨습니다!"),
            )
        ),
        (false, _) => println!(
            "{}",
            lang.pick(
                format!(
                    "{done}/{total} done. Save a file under {} and this exercise is checked again.",
                    exercise.changes
                ),
                format!(
                    "{done}/{total} 완료. {} 아래의 파일을 저장하면 이 실습을 다시 확인합니다.",
                    exercise.changes
                ),
            )
        ),
    }
    print_keys(lang);
    verdict
}

fn print_keys(lang: Lang) {
    let line = if ONE_KEY_AT_A_TIME.load(Ordering::Relaxed) {
        lang.pick(
            "keys: h hint · l list · n next · c check all · q quit · Enter checks again",
            "키: h 힌트 · l 목록 · n 다음 · c 모두 확인 · q 끝내기 · Enter 다시 확인",
        )
    } else {
        lang.pick(
            "keys, then Enter: h hint · l list · n next · c check all · q quit · Enter alone checks again",
            "키를 누른 뒤 Enter: h 힌트 · l 목록 · n 다음 · c 모두 확인 · q 끝내기 · Enter만 누르면 다시 확인",
        )
    };
    println!("{line}");
}

/// Every exercise, with what has passed and where the coach is.
fn print_list(current: usize, lang: Lang) {
    let progress = Progress::load(&progress::default_path());
    for (index, exercise) in EXERCISES.iter().enumerate() {
        let mark = if progress.passed(exercise.number).is_some() {
            "✓"
        } else {
            " "
        };
        let here = if index == current { "→" } else { " " };
        println!(
            "{here} {mark} {}. {}",
            exercise.number,
            exercise.title(lang)
        );
    }
}

/// The files under `changes` (a folder or one file) with their sizes and
/// modification times, build output left out: a save changes one of them.
pub fn snapshot(changes: &str) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    let mut pending = vec![workspace_root().join(changes)];
    while let Some(path) = pending.pop() {
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                pending.push(entry.path());
            }
        } else {
            files.push((path, metadata.len(), metadata.modified().ok()));
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A save is seen: a file whose text changes changes the snapshot,
    /// and build output under `target/` is left out.
    #[test]
    fn a_saved_file_changes_the_snapshot() {
        let folder = format!("target/coach-snapshot-{}", std::process::id());
        let root = workspace_root().join(&folder);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        let before = snapshot(&folder);
        assert_eq!(before.len(), 1, "{before:?}");
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join("target/built"), "output").unwrap();
        assert_eq!(snapshot(&folder), before, "build output is not a save");
        std::fs::write(root.join("src/main.rs"), "fn main() { println!(); }\n").unwrap();
        assert_ne!(snapshot(&folder), before);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
