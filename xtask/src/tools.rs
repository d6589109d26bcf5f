//! Programs from outside Rust that some checks and tests need, such as
//! Chromium for what a browser shows.
//!
//! A learner who has only Rust still gets a passing `cargo test` and
//! `cargo xtask verify`: what needs a missing program is skipped, with one
//! line that says how to install it. CI sets `REQUIRE_TOOLS=1`, which turns
//! each of those skips into a failure, so that it cannot pass by skipping.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to say when there is no Chromium: how to install a browser on
/// each system the course is taken on. On Windows the browser is found
/// only through `CHROME`.
pub const CHROMIUM_MISSING: &str = "no Chromium found: install it (Debian/Ubuntu: \
    `sudo apt-get install -y chromium`; macOS: `brew install --cask google-chrome`; Windows: \
    `winget install Google.Chrome`, then set CHROME to its chrome.exe) or set CHROME to a Chrome \
    or Chromium program";

/// What to say when there is no nginx. Chapter 5's proxy tests run it as a
/// Unix program; on Windows they are for WSL. Step 4's checks run it too.
pub const NGINX_MISSING: &str = "no nginx found: install it (Debian/Ubuntu: \
    `sudo apt-get install -y nginx`; macOS: `brew install nginx`; Windows: inside WSL, as on \
    Debian) or set NGINX to an nginx program";

/// What to say when there is no `redis-server`, which step 4's tests start.
/// Redis has no Windows build of its own; there it runs inside WSL.
pub const REDIS_MISSING: &str = "no redis-server found: install it (Debian/Ubuntu: \
    `sudo apt-get install -y redis-server`; macOS: `brew install redis`; Windows: inside WSL, \
    as on Debian) or set REDIS_SERVER to a redis-server program";

/// Where Debian puts the programs, which is where CI installs them.
const DEBIAN_NGINX: &str = "/usr/sbin/nginx";
const DEBIAN_REDIS: &str = "/usr/bin/redis-server";

/// The program the environment variable `variable` names, else the first
/// of `candidates` that is a file, else `hint`, which says how to install
/// it.
pub fn find_program(
    variable: &str,
    candidates: Vec<PathBuf>,
    hint: &str,
) -> Result<PathBuf, String> {
    if let Some(chosen) = std::env::var_os(variable) {
        let chosen = PathBuf::from(chosen);
        return if chosen.is_file() {
            Ok(chosen)
        } else {
            Err(format!("{variable}={} is not a file", chosen.display()))
        };
    }
    candidates
        .into_iter()
        .find(|program| program.is_file())
        .ok_or_else(|| hint.to_string())
}

/// Every `name` on the `PATH`.
pub fn on_path(name: &str) -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&path)
        .map(|dir| dir.join(&name))
        .collect()
}

/// The program named by `NGINX`, Debian's nginx, or the first on the `PATH`.
pub fn find_nginx() -> Result<PathBuf, String> {
    let candidates = std::iter::once(PathBuf::from(DEBIAN_NGINX))
        .chain(on_path("nginx"))
        .collect();
    find_program("NGINX", candidates, NGINX_MISSING)
}

/// The program named by `REDIS_SERVER`, Debian's, or the first on the `PATH`.
pub fn find_redis() -> Result<PathBuf, String> {
    let candidates = std::iter::once(PathBuf::from(DEBIAN_REDIS))
        .chain(on_path("redis-server"))
        .collect();
    find_program("REDIS_SERVER", candidates, REDIS_MISSING)
}

/// The environment variable that makes a missing program a failure.
pub const REQUIRE_TOOLS: &str = "REQUIRE_TOOLS";

/// Whether a missing program must fail the checks rather than skip them.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_TOOLS).is_some_and(|value| !value.is_empty() && value != "0")
}

/// For a test that needs `what`: the program that `found` located, or,
/// when there is none, one line saying that the test is skipped and why
/// (`found`'s error names the way to install it), and `None`. With
/// `REQUIRE_TOOLS=1` a missing program fails the test instead.
///
/// The line goes straight to the standard error stream rather than through
/// `eprintln!`, because the test harness captures what `eprintln!` prints
/// and shows it only for tests that fail; a skipped test passes.
#[cfg(test)]
pub fn require_or_skip<T>(what: &str, found: Result<T, String>) -> Option<T> {
    use std::io::Write;

    let why = match found {
        Ok(program) => return Some(program),
        Err(why) => why,
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    assert!(
        !required(),
        "{test} needs {what} ({REQUIRE_TOOLS} is set): {why}"
    );
    // One write, so that the line is not cut by the harness's own lines.
    let line = format!("skipped {test}: it needs {what}; {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
}

/// Ends a program the tooling started, waits for it (a few seconds at
/// most), then deletes the folder it wrote to: for the `Drop` of each
/// started program. A program's helper processes may still write a file
/// as they end, so the deletion is tried again until it works or the
/// wait is over.
pub fn end_and_delete(child: &mut tokio::process::Child, folder: &Path) {
    let _ = child.start_kill();
    let deadline = Instant::now() + Duration::from_secs(3);
    let pause = || std::thread::sleep(Duration::from_millis(20));
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        pause();
    }
    while std::fs::remove_dir_all(folder).is_err() && folder.exists() && Instant::now() < deadline {
        pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hint names a way to install the program on the three systems.
    #[test]
    fn every_install_hint_covers_linux_macos_and_windows() {
        for hint in [CHROMIUM_MISSING, NGINX_MISSING, REDIS_MISSING] {
            for system in [
                "Debian/Ubuntu: `sudo apt-get",
                "macOS: `brew install",
                "Windows: ",
            ] {
                assert!(hint.contains(system), "{hint} lacks {system}");
            }
        }
    }
}
