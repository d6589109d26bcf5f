//! A step built from a changed copy of its crate: the course's files with a
//! few of them replaced or edited, built and ready to start like the step
//! itself.
//!
//! The exercises' tests use it to run a check against a reference solution
//! and against near misses without touching the learner's own files, and
//! any check that needs "the step, but with this one thing different" can
//! use it too.
//!
//! The copy lives in `target/step-copies/<label>/`, in a workspace of its
//! own, and is built with the workspace's target directory. Two things keep
//! that cheap: the dependencies built for the steps are reused (cargo
//! shares them between workspaces that ask for the same features), and
//! each copy's package gets a name of its own (`step1-<label>`), so its
//! program never replaces the workspace's `target/debug/step1`. A copy
//! keeps its folder between runs and files are rewritten only when they
//! change, so building the same copy again takes a moment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use tokio::process::Command;

use crate::course::STEP_FOLDERS;
use crate::steps::{Program, workspace_root};

/// The folder of a step package: `step1` gives `step1-ws-only`.
fn folder_of(package: &str) -> anyhow::Result<&'static str> {
    STEP_FOLDERS
        .iter()
        .find(|(name, _)| *name == package)
        .map(|(_, folder)| *folder)
        .with_context(|| format!("`{package}` is not a step package (step1 to step4)"))
}

/// One change to a copied file. Paths are relative to the workspace root,
/// as in `step1-ws-only/src/main.rs`.
pub enum Change {
    /// The file's whole new text.
    Write { path: String, text: String },
    /// `from`, which must occur in the file, replaced by `to` everywhere.
    Replace {
        path: String,
        from: String,
        to: String,
    },
}

impl Change {
    pub fn write(path: &str, text: impl Into<String>) -> Change {
        Change::Write {
            path: path.to_string(),
            text: text.into(),
        }
    }

    pub fn replace(path: &str, from: &str, to: &str) -> Change {
        Change::Replace {
            path: path.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        }
    }
}

/// The source file of `package` that holds `text`, relative to the
/// workspace (`step3-combined/src/shutdown.rs`): a change can name a line
/// of a step wherever the step keeps it.
pub fn source_file_containing(package: &str, text: &str) -> anyhow::Result<String> {
    let folder = folder_of(package)?;
    let mut files = files_under(&workspace_root().join(folder).join("src"))?;
    files.sort();
    let file = files
        .iter()
        .find(|file| std::fs::read_to_string(file).is_ok_and(|source| source.contains(text)))
        .with_context(|| format!("no file in {folder}/src contains {text:?}"))?;
    Ok(file
        .strip_prefix(workspace_root())?
        .to_string_lossy()
        .replace('\\', "/"))
}

/// Copies the step folders into `target/step-copies/<label>/`, applies
/// `changes`, builds `package` there and returns its program. `label` names
/// the copy (letters, digits and `-`): the same label reuses the same
/// folder.
pub async fn build(package: &str, label: &str, changes: &[Change]) -> anyhow::Result<Program> {
    ensure!(
        !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-'),
        "a copy's label is letters, digits and `-`, not {label:?}"
    );
    let folder = folder_of(package)?;
    let root = workspace_root();
    let target = target_dir();
    let copy = target.join("step-copies").join(label);
    let renamed = format!("{package}-{label}");

    // Every step folder is copied, since step 3 builds step 2's page into
    // itself; only the changed package is a member of the copy's workspace.
    let mut files = course_files(root)?;
    for change in changes {
        apply(&mut files, change)?;
    }
    let manifest = format!("{folder}/Cargo.toml");
    let name_line = format!("name = \"{package}\"");
    let Some((_, package_manifest)) = files.iter_mut().find(|(path, _)| *path == manifest) else {
        bail!("{manifest} is missing");
    };
    let text = String::from_utf8_lossy(package_manifest).into_owned();
    ensure!(
        text.contains(&name_line),
        "{manifest} has no line `{name_line}`"
    );
    *package_manifest = text
        .replacen(&name_line, &format!("name = \"{renamed}\""), 1)
        .into_bytes();
    files.push(("Cargo.toml".to_string(), workspace_manifest(folder)?.into()));
    files.push((
        "Cargo.lock".to_string(),
        std::fs::read(root.join("Cargo.lock")).context("cannot read Cargo.lock")?,
    ));
    mirror(&copy, &files)?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--offline", "-p", &renamed])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&copy)
        .output()
        .await
        .context("cannot run cargo to build a copy of a step")?;
    if !built.status.success() {
        bail!(
            "building the copy of {package} in {} failed:\n{}",
            copy.display(),
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(Program {
        name: renamed.clone(),
        path: target
            .join("debug")
            .join(format!("{renamed}{}", std::env::consts::EXE_SUFFIX)),
    })
}

/// One changed copy of a step among many built together.
pub struct Copy<'a> {
    /// Names the copy: letters, digits and `-`.
    pub label: String,
    pub package: &'a str,
    pub changes: Vec<Change>,
}

/// Builds many changed copies at once: each in its own folder under
/// `target/step-copies/together/<label>/`, all members of one workspace
/// there, and built by one `cargo build`. Cargo then compiles them side by
/// side on every core, and the dependencies once for all. Returns each
/// copy's program, in the order given.
pub fn build_all(copies: &[Copy]) -> anyhow::Result<Vec<Program>> {
    let root = workspace_root();
    let target = target_dir();
    let together = target.join("step-copies").join("together");
    let mut files = Vec::new();
    let mut members = Vec::new();
    let mut programs = Vec::new();
    let course = course_files(root)?;
    for copy in copies {
        let label = &copy.label;
        ensure!(
            !label.is_empty()
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-'),
            "a copy's label is letters, digits and `-`, not {label:?}"
        );
        let folder = folder_of(copy.package)?;
        let renamed = format!("{}-{label}", copy.package);
        let mut copied = course.clone();
        for change in &copy.changes {
            apply(&mut copied, change).with_context(|| format!("copy {label}"))?;
        }
        rename_package(&mut copied, folder, copy.package, &renamed)?;
        files.extend(
            copied
                .into_iter()
                .map(|(path, text)| (format!("{label}/{path}"), text)),
        );
        members.push(format!("{label}/{folder}"));
        programs.push(Program {
            name: renamed.clone(),
            path: target
                .join("debug")
                .join(format!("{renamed}{}", std::env::consts::EXE_SUFFIX)),
        });
    }
    let quoted: Vec<String> = members
        .iter()
        .map(|member| format!("\"{member}\""))
        .collect();
    let mut manifest = workspace_manifest_with(&format!("members = [{}]", quoted.join(", ")))?;
    // The copies are run, never stepped through in a debugger: without
    // debug information each one compiles and links faster. Only the
    // copies themselves: the dependencies stay as the course builds them.
    for program in &programs {
        manifest.push_str(&format!(
            "\n[profile.dev.package.{:?}]\ndebug = false\n",
            program.name
        ));
    }
    files.push(("Cargo.toml".to_string(), manifest.into()));
    files.push((
        "Cargo.lock".to_string(),
        std::fs::read(root.join("Cargo.lock")).context("cannot read Cargo.lock")?,
    ));
    mirror(&together, &files)?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "--quiet", "--offline"]);
    for program in &programs {
        command.args(["-p", &program.name]);
    }
    // Each copy is built once per change of the course: the incremental
    // caches would only cost time and disk.
    let built = command
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_INCREMENTAL", "0")
        .current_dir(&together)
        .output()
        .context("cannot run cargo to build the copies of the steps")?;
    if !built.status.success() {
        bail!(
            "building the copies in {} failed:\n{}",
            together.display(),
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(programs)
}

/// Gives the copied package `package` in `folder` the name `renamed`.
fn rename_package(
    files: &mut [(String, Vec<u8>)],
    folder: &str,
    package: &str,
    renamed: &str,
) -> anyhow::Result<()> {
    let manifest = format!("{folder}/Cargo.toml");
    let name_line = format!("name = \"{package}\"");
    let Some((_, package_manifest)) = files.iter_mut().find(|(path, _)| *path == manifest) else {
        bail!("{manifest} is missing");
    };
    let text = String::from_utf8_lossy(package_manifest).into_owned();
    ensure!(
        text.contains(&name_line),
        "{manifest} has no line `{name_line}`"
    );
    *package_manifest = text
        .replacen(&name_line, &format!("name = \"{renamed}\""), 1)
        .into_bytes();
    Ok(())
}

/// The workspace's target directory, where the steps' dependencies are built.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The workspace's `Cargo.toml` with `folder` as its only member: the same
/// dependency versions, features, profiles and lints as the course.
fn workspace_manifest(folder: &str) -> anyhow::Result<String> {
    workspace_manifest_with(&format!("members = [\"{folder}\"]"))
}

/// The workspace's `Cargo.toml` with its `members =` line replaced.
fn workspace_manifest_with(members_line: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .context("cannot read the workspace's Cargo.toml")?;
    let members = text
        .lines()
        .find(|line| line.trim_start().starts_with("members ="))
        .context("the workspace's Cargo.toml has no `members =` line")?;
    Ok(text.replacen(members, members_line, 1))
}

fn apply(files: &mut Vec<(String, Vec<u8>)>, change: &Change) -> anyhow::Result<()> {
    match change {
        Change::Write { path, text } => {
            match files.iter_mut().find(|(have, _)| have == path) {
                Some((_, old)) => *old = text.clone().into_bytes(),
                None => files.push((path.clone(), text.clone().into_bytes())),
            }
            Ok(())
        }
        Change::Replace { path, from, to } => {
            let (_, bytes) = files
                .iter_mut()
                .find(|(have, _)| have == path)
                .with_context(|| format!("cannot change {path}: no such file in the steps"))?;
            let text = String::from_utf8_lossy(bytes).into_owned();
            ensure!(
                text.contains(from.as_str()),
                "cannot change {path}: it does not contain {from:?}"
            );
            *bytes = text.replace(from.as_str(), to).into_bytes();
            Ok(())
        }
    }
}

/// Every file under `folder`, except build output.
fn files_under(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                if entry.file_name() != "target" {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Makes `folder` hold exactly `files`. A file whose text is already right
/// is left alone, so that cargo sees it unchanged and does not rebuild.
fn mirror(folder: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let wanted: Vec<PathBuf> = files.iter().map(|(path, _)| folder.join(path)).collect();
    for old in files_under(folder)? {
        if !wanted.contains(&old) {
            std::fs::remove_file(&old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        }
    }
    for ((_, text), path) in files.iter().zip(&wanted) {
        if std::fs::read(path).ok().as_deref() == Some(text.as_slice()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Every file of every step folder under `root`, by its path relative to
/// `root` (with `/`), and its bytes.
fn course_files(root: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for (_, step_folder) in STEP_FOLDERS {
        for file in files_under(&root.join(step_folder))? {
            let relative = file
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            files.push((relative, text));
        }
    }
    Ok(files)
}
