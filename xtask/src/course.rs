//! The course's own version of the steps: whether a learner's files differ
//! from it, and the one command that goes back to it.
//!
//! A learner who does an exercise changes a step. `cargo xtask exercise`
//! then prints how to undo that, and `cargo xtask verify` says in one line
//! per changed step that it differs from the course, instead of failing
//! every walkthrough block that shows its code. Nothing here writes to the
//! learner's files: going back is a command the learner runs.

use crate::lang::Lang;
use crate::steps::workspace_root;

/// The port every server step listens on when `PORT` is not set, and the
/// one step 2's page opens from disk, as the README and the chapters say.
pub const DEFAULT_PORT: u16 = 8080;

/// Each step package and its folder in the workspace.
pub const STEP_FOLDERS: [(&str, &str); 4] = [
    ("step1", "step1-ws-only"),
    ("step2", "step2-html-client"),
    ("step3", "step3-combined"),
    ("step4", "step4-many-servers"),
];

/// The step packages whose behaviour depends on a folder: step 3 builds
/// step 2's page into itself, so a changed page changes step 3 too.
pub fn packages_using(folder: &str) -> &'static [&'static str] {
    match folder {
        "step1-ws-only" => &["step1"],
        "step2-html-client" => &["step2", "step3"],
        "step3-combined" => &["step3"],
        "step4-many-servers" => &["step4"],
        _ => &[],
    }
}

/// Whether `path` (a folder or a file, relative to the workspace root)
/// differs from the last commit, untracked files included; `None` when the
/// workspace is not a git checkout or git is not installed.
pub fn git_changed(path: &str) -> Option<bool> {
    let output = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", path])
        .current_dir(workspace_root())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(!output.stdout.is_empty())
}

/// How the course's version of a path can be had again.
pub enum WayBack {
    /// Git has the change: this command undoes it.
    Command(String),
    /// Git has no change: it was committed.
    Committed,
    /// Not a git checkout, or no git.
    NoGit,
}

impl WayBack {
    pub fn of(path: &str) -> WayBack {
        match git_changed(path) {
            Some(true) => WayBack::Command(format!("git checkout HEAD -- {path}")),
            Some(false) => WayBack::Committed,
            None => WayBack::NoGit,
        }
    }

    /// One sentence that holds the command, or says what going back takes.
    pub fn sentence(&self, path: &str, lang: Lang) -> String {
        match self {
            WayBack::Command(command) => lang.pick(
                format!("To go back to the course's {path}: {command}"),
                format!("강의의 원래 상태로 되돌리는 명령({path}): {command}"),
            ),
            WayBack::Committed => lang.pick(
                format!(
                    "{path} has no change since the last commit: if you committed one, \
                     `git log -- {path}` lists the commits, and `git checkout COMMIT -- {path}` \
                     with the course's last one goes back"
                ),
                format!(
                    "마지막 커밋 이후 {path}에는 바뀐 것이 없습니다. 변경을 커밋했다면 \
                     `git log -- {path}` 명령으로 커밋을 살펴보고, 강의의 마지막 커밋을 골라 \
                     `git checkout 커밋 -- {path}` 명령을 실행하면 되돌아갑니다"
                ),
            ),
            WayBack::NoGit => lang.pick(
                format!(
                    "This folder is not a git checkout, so no command here can restore the \
                     course's {path}: get a fresh copy of the course the way you got this one \
                     and copy its {path} over yours (in a git clone, `git checkout HEAD -- {path}` \
                     does it)"
                ),
                format!(
                    "이 폴더는 git 저장소가 아니라서 강의의 원래 파일({path})을 되살리는 명령이 \
                     없습니다. 이 강의를 받았던 방법으로 새로 받아, 그 안에서 같은 경로({path})에 \
                     있는 것을 여러분의 것 위에 복사하세요 (git으로 받았다면 \
                     `git checkout HEAD -- {path}` 한 줄이면 됩니다)"
                ),
            ),
        }
    }
}
