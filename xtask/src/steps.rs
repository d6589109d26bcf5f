//! The step binaries: building them, and running them as real processes.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::lang::Lang;

/// How long a step may take to print its address after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
}

/// Which build of the steps to run. Checks and tests use the debug build,
/// which `cargo build` makes quickly; measurements of speed and memory use
/// the release build, which is what a real service would run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Build {
    Debug,
    Release,
}

/// Where cargo puts the binary of a step package.
pub fn binary(package: &str, build: Build) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let folder = match build {
        Build::Debug => "debug",
        Build::Release => "release",
    };
    target
        .join(folder)
        .join(format!("{package}{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the three steps once per process, with the cargo that started us.
pub fn build() -> anyhow::Result<()> {
    build_in(Lang::En)
}

/// Like `build`, saying so in the learner's language.
pub fn build_in(lang: Lang) -> anyhow::Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| cargo_build(steps_in(lang), STEPS_BUILD, lang));
    result.clone().map_err(anyhow::Error::msg)
}

/// Like `build_in`, but it builds again on every call: the coach checks
/// the learner's files after each save, all in one process, and must not
/// check the binaries of the first save.
pub fn rebuild_in(lang: Lang) -> anyhow::Result<()> {
    cargo_build(steps_in(lang), STEPS_BUILD, lang).map_err(anyhow::Error::msg)
}

/// The step packages that `build` builds, the ones chapters 1 to 5 run.
/// A later step (step 4, which needs Redis) is built on its own when it is
/// needed (`build_package_in`), so that the build line those chapters
/// show stays as it is.
pub const FIRST_STEPS: [&str; 3] = ["step1", "step2", "step3"];

/// Builds one more step package, such as `step4`, saying so in the
/// learner's language. Each call builds again (cargo finds quickly that
/// nothing changed), so that `--watch` checks the file just saved.
pub fn build_package_in(package: &str, lang: Lang) -> anyhow::Result<()> {
    let what = lang.pick(package.to_string(), format!("{package}를"));
    cargo_build(&what, &["build", "-p", package], lang).map_err(anyhow::Error::msg)
}

/// What `build` builds: every step's binary, and step 1's first listing.
const STEPS_BUILD: &[&str] = &[
    "build",
    "-p",
    "step1",
    "-p",
    "step2",
    "-p",
    "step3",
    "--bins",
    "--example",
    "minimal",
];

fn steps_in(lang: Lang) -> &'static str {
    lang.pick("the steps", "세 단계를")
}

/// The line `build_in(lang)` prints before it builds, as the chapters show
/// it.
#[cfg(test)]
pub fn build_line(lang: Lang) -> String {
    announcement(steps_in(lang), STEPS_BUILD, lang)
}

/// Builds a package in release mode, as a measurement needs it; `why`
/// ends the progress line's first words. The first time, this compiles
/// every dependency with optimisations, which takes a minute or two.
pub fn build_release(package: &str, why: &str) -> anyhow::Result<()> {
    let what = format!("{package} in release mode, {why}");
    cargo_build(&what, &["build", "--release", "-p", package], Lang::En).map_err(anyhow::Error::msg)
}

/// Runs `cargo ARGS --quiet` in the workspace after a progress line that
/// says what it builds, with the command. The compiler's messages, if any,
/// go straight to the terminal. In Korean, `what` carries its particle
/// (`세 단계를`).
fn cargo_build(what: &str, args: &[&str], lang: Lang) -> Result<(), String> {
    println!("{}", announcement(what, args, lang));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = std::process::Command::new(cargo)
        .args(args)
        .arg("--quiet")
        .current_dir(workspace_root())
        .status();
    match (status, lang) {
        (Ok(status), _) if status.success() => Ok(()),
        (Ok(_), Lang::En) => Err(format!(
            "building {what} failed: the compiler's messages are above"
        )),
        (Ok(_), Lang::Ko) => Err(format!(
            "{what} 빌드하지 못했습니다. 컴파일러의 메시지가 위에 있습니다"
        )),
        (Err(error), Lang::En) => Err(format!("cannot run cargo to build {what}: {error}")),
        (Err(error), Lang::Ko) => Err(format!(
            "{what} 빌드할 cargo를 실행하지 못했습니다: {error}"
        )),
    }
}

/// "Building the steps (cargo build ...) ...": what is built, and how.
fn announcement(what: &str, args: &[&str], lang: Lang) -> String {
    let command = format!("cargo {}", args.join(" "));
    match lang {
        Lang::En => format!("Building {what} ({command}) ..."),
        Lang::Ko => format!("{what} 빌드합니다 ({command}) ..."),
    }
}

/// Everything a process printed so far, stdout and stderr as they came.
#[derive(Clone)]
pub struct Output {
    lines: Arc<Mutex<Vec<String>>>,
    count: watch::Sender<usize>,
}

impl Output {
    pub fn new() -> Self {
        Output {
            lines: Arc::default(),
            count: watch::Sender::new(0),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The last `count` lines, enough to explain why a process stopped.
    pub fn last(&self, count: usize) -> Vec<String> {
        let lines = self.lines();
        lines[lines.len().saturating_sub(count)..].to_vec()
    }

    pub fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap();
        lines.push(line);
        self.count.send_replace(lines.len());
    }

    /// Waits for a line, printed after the first `skip` lines, that
    /// satisfies `wanted`.
    pub async fn wait_for(
        &self,
        skip: usize,
        wait: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let mut count = self.count.subscribe();
        let search = async {
            let mut checked = skip;
            loop {
                let lines = self.lines();
                if let Some(line) = lines.iter().skip(checked).find(|line| wanted(line)) {
                    return Some(line.clone());
                }
                checked = checked.max(lines.len());
                count.changed().await.ok()?;
            }
        };
        timeout(wait, search).await.ok().flatten()
    }

    /// Copies each line of `stream` into this output until it ends.
    fn collect(&self, stream: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<()> {
        let output = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.push(line);
            }
        })
    }
}

/// A built server step, ready to start: the workspace's own build of a
/// step (`Program::of("step1")`), or a changed copy's (see `ChangedCopy`).
#[derive(Clone, Debug)]
pub struct Program {
    /// What to call it in messages: `step1`, or a copy's package name.
    pub name: String,
    pub path: PathBuf,
}

impl Program {
    /// The workspace's debug build of a step package.
    pub fn of(package: &str) -> Program {
        Program::of_build(package, Build::Debug)
    }

    /// The workspace's debug or release build of a step package.
    pub fn of_build(package: &str, build: Build) -> Program {
        Program {
            name: package.to_string(),
            path: binary(package, build),
        }
    }

    /// Any other server program, started the same way.
    pub fn other(path: &Path) -> Program {
        Program {
            name: path.display().to_string(),
            path: path.to_path_buf(),
        }
    }

    /// The workspace's build of an example of a step package, such as
    /// step 1's `minimal`.
    pub fn example(name: &str) -> Program {
        let debug = binary(name, Build::Debug);
        let folder = debug.parent().expect("a binary is in a folder");
        Program {
            name: format!("the example {name}"),
            path: folder
                .join("examples")
                .join(debug.file_name().expect("a file name")),
        }
    }

    /// Starts it with `PORT=0`, so that the system picks a free port, and
    /// reads the port from the address it prints first. `env` adds or
    /// overrides variables, such as `HOST`, or `PORT` to start it again on
    /// the port it had.
    pub async fn start(&self, env: &[(&str, &str)]) -> anyhow::Result<Running> {
        let name = &self.name;
        let (child, output, _) = spawn(self.command(env))?;
        let first = output.wait_for(0, START_TIMEOUT, |_| true).await;
        let Some(first) = first else {
            bail!("{name} printed nothing within {START_TIMEOUT:?} of starting");
        };
        let port = first
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .with_context(|| format!("{name}'s first line is not an address: {first:?}"))?;
        Ok(Running {
            child,
            port,
            output,
        })
    }
}

impl Program {
    /// The command that starts it: none of the variables the course's
    /// programs read comes from the shell that runs the checks (a learner's
    /// `HEARTBEAT_SECS=30` left over from chapter 4 would change what is
    /// checked), only `PORT=0` and what `env` says.
    fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(&self.path);
        for variable in STEP_VARIABLES {
            command.env_remove(variable);
        }
        command.env("PORT", "0");
        command.envs(env.iter().copied());
        command
    }
}

/// Every variable a step or a reference solution reads.
const STEP_VARIABLES: &[&str] = &["PORT", "HOST", "HEARTBEAT_SECS", "REDIS_URL", "INSTANCE"];

/// How a running server is told to stop.
#[derive(Clone, Copy)]
pub enum Stop {
    /// Ctrl+C in its terminal (SIGINT).
    CtrlC,
    /// SIGTERM, what `docker stop`, systemd and Kubernetes send.
    Terminate,
    /// SIGKILL: no goodbye, as when the machine or the process dies.
    #[cfg_attr(not(test), allow(dead_code))]
    Kill,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Stop::CtrlC => "Ctrl+C",
            Stop::Terminate => "SIGTERM",
            Stop::Kill => "SIGKILL",
        })
    }
}

/// A step running as its own process, listening on a free port.
/// Dropping it kills the process.
pub struct Running {
    child: Child,
    pub port: u16,
    pub output: Output,
}

impl Running {
    /// Starts the workspace's build of a server step on a free port.
    pub async fn start(package: &str) -> anyhow::Result<Running> {
        Program::of(package).start(&[]).await
    }

    /// Like `start`, with extra environment variables such as `HOST`.
    #[cfg(test)]
    pub async fn start_with(package: &str, env: &[(&str, &str)]) -> anyhow::Result<Running> {
        Program::of(package).start(env).await
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends Ctrl+C (SIGINT), as a learner does in the terminal.
    pub fn interrupt(&self) -> anyhow::Result<()> {
        self.stop(Stop::CtrlC)
    }

    /// Tells the process to stop the way `how` names.
    pub fn stop(&self, how: Stop) -> anyhow::Result<()> {
        let pid = self.child.id().context("the process has already ended")?;
        let signal = match how {
            Stop::CtrlC => "-INT",
            Stop::Terminate => "-TERM",
            Stop::Kill => "-KILL",
        };
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill {signal} {pid} failed");
        }
        Ok(())
    }

    /// Ends the process at once with the system's own means (the child's
    /// kill: SIGKILL on Unix, TerminateProcess on Windows) and waits until
    /// it is gone, so that its port is free again.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .context("the process could not be stopped")
    }

    /// The exit status, if the process ends within `wait`.
    pub async fn exit_status(&mut self, wait: Duration) -> Option<ExitStatus> {
        timeout(wait, self.child.wait()).await.ok()?.ok()
    }
}

/// A step run to its end, as `cargo run -p stepN` would.
pub struct Finished {
    pub status: ExitStatus,
    pub output: Output,
}

/// Runs a step with arguments and environment until it exits.
pub async fn run_to_end(
    package: &str,
    args: &[&str],
    env: &[(&str, &str)],
    wait: Duration,
) -> anyhow::Result<Finished> {
    run_program_to_end(&Program::of(package), args, env, wait).await
}

/// Like `run_to_end`, for any built step, such as a changed copy.
pub async fn run_program_to_end(
    program: &Program,
    args: &[&str],
    env: &[(&str, &str)],
    wait: Duration,
) -> anyhow::Result<Finished> {
    let mut command = Command::new(&program.path);
    command.args(args).env_remove("HOST").env_remove("PORT");
    command.envs(env.iter().copied());
    let (mut child, output, readers) = spawn(command)?;
    let Ok(status) = timeout(wait, child.wait()).await else {
        bail!("{} did not finish within {wait:?}", program.name);
    };
    for reader in readers {
        let _ = reader.await;
    }
    Ok(Finished {
        status: status?,
        output,
    })
}

/// Starts a process with its output collected; dropping the `Child` kills it.
pub fn spawn(mut command: Command) -> anyhow::Result<(Child, Output, [JoinHandle<()>; 2])> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {program}: run `cargo build --workspace` first"))?;
    let output = Output::new();
    let readers = [
        output.collect(child.stdout.take().expect("stdout is piped")),
        output.collect(child.stderr.take().expect("stderr is piped")),
    ];
    Ok((child, output, readers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `env::var("NAME")` in the steps and the reference solutions.
    fn variables_read(folder: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("target") {
                variables_read(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("env::var(\"").skip(1) {
                    let name = piece.split('"').next().unwrap().to_string();
                    if !found.contains(&name) {
                        found.push(name);
                    }
                }
            }
        }
    }

    #[test]
    fn no_variable_a_step_reads_comes_from_the_shell() {
        let root = workspace_root();
        let mut read = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("step") || name == "exercises" {
                variables_read(&path, &mut read);
            }
        }
        assert!(read.contains(&"HEARTBEAT_SECS".to_string()), "{read:?}");
        let unlisted: Vec<&String> = read
            .iter()
            .filter(|name| !STEP_VARIABLES.contains(&name.as_str()))
            .collect();
        assert!(
            unlisted.is_empty(),
            "read by a step but not in STEP_VARIABLES: {unlisted:?}"
        );

        let command = Program::of("step1").command(&[("HOST", "::1")]);
        let set: Vec<(String, Option<String>)> = command
            .as_std()
            .get_envs()
            .map(|(name, value)| {
                let value = value.map(|value| value.to_string_lossy().to_string());
                (name.to_string_lossy().to_string(), value)
            })
            .collect();
        for variable in STEP_VARIABLES {
            let value = set.iter().find(|(name, _)| name == variable).unwrap();
            let expected = match *variable {
                "PORT" => Some("0".to_string()),
                "HOST" => Some("::1".to_string()),
                _ => None,
            };
            assert_eq!(value.1, expected, "{variable}");
        }
    }
}
