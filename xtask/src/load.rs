//! `cargo xtask load`: many clients against one server step.
//!
//! It builds the chosen step in release mode (a measurement of the debug
//! build would say more about the missing optimisations than about the
//! server), starts it on a free loopback port, opens the clients (a few
//! hundred handshaking at a time), and has each one take its greeting and
//! send one message. While every client is still connected it reads how
//! much memory the server holds; then they all leave. It prints how fast
//! the greetings came, what one held connection costs the server in
//! memory, and how many `Received:` lines the server printed.
//!
//! The clients run on the same machine as the server, so they are part of
//! the measurement: they are built in release mode too (`cargo xtask load`
//! starts the release build of this tool), and run on one thread.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use crate::crowd;
use crate::steps::{self, Build, Program};

/// How many clients may be in the middle of their handshake at once. More
/// would only overflow the server's accept queue and wait for TCP's retries.
const CONNECTING_AT_ONCE: usize = 256;

/// The most clients we open: each needs a file on both sides.
const MAX_CLIENTS: usize = 10_000;

/// Open files each process needs besides one per client: standard streams,
/// listeners, the runtime's own, and cargo's while it builds.
const SPARE_FILES: u64 = 256;

/// How long the server may take to end after Ctrl+C.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to print the last `Received:` line.
const PRINT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Options {
    server: Server,
    clients: usize,
}

/// What to load: a server step of the workspace, or another program that
/// behaves like one, such as the original tutorial's Node server.
#[derive(Clone)]
enum Server {
    Step(&'static str),
    Program(PathBuf),
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut server = None;
    let mut clients = 2000;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().map(String::as_str).unwrap_or_default();
        match arg.as_str() {
            "--step" => {
                server = Some(Server::Step(match value {
                    "1" => "step1",
                    "3" => "step3",
                    _ => bail!("--step takes 1 or 3 (the server steps), not `{value}`"),
                }))
            }
            "--program" => {
                let path = PathBuf::from(value);
                ensure!(
                    path.is_file(),
                    "--program takes the path of a server to start, and there is no file at `{value}`"
                );
                // As a path, not a name to look up in PATH.
                server = Some(Server::Program(std::path::absolute(path)?))
            }
            "--clients" => {
                clients = match value.parse() {
                    Ok(count @ 1..=MAX_CLIENTS) => count,
                    _ => bail!("--clients takes a number from 1 to {MAX_CLIENTS}, not `{value}`"),
                }
            }
            other => {
                bail!("unknown option `{other}` (try `cargo xtask load --step 1 --clients 2000`)")
            }
        }
    }
    let server = server.context(
        "say which server to load: --step 1 or --step 3, or --program PATH for another one",
    )?;
    Ok(Options { server, clients })
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    if cfg!(debug_assertions) {
        return run_release_build(args);
    }
    prepare(&options)?;
    // One thread does the clients' little work with the least switching
    // between threads, and leaves the other cores to the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let measured = runtime.block_on(measure(&options, |greeted, failed| {
        print!(
            "\r  greeted {greeted} of {}, {failed} failed",
            options.clients
        );
        let _ = std::io::stdout().flush();
    }))?;
    println!();
    for line in &measured.report {
        println!("{line}");
    }
    Ok(if measured.all_well {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The clients share the machine with the server: a debug build's clients
/// would take more of it than the server itself, and measure themselves
/// rather than the server. So this debug build (`cargo xtask`) builds the
/// release build of this tool and hands the measurement to it.
fn run_release_build(args: &[String]) -> anyhow::Result<ExitCode> {
    steps::build_release("xtask", "so that its clients are as quick as the server")?;
    let status = std::process::Command::new(steps::binary("xtask", Build::Release))
        .arg("load")
        .args(args)
        .status()
        .context("cannot start the release build of xtask")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What chapter 4 shows: `cargo xtask load --step 1 --clients 500`, run
/// for real, without the progress line. Returns the lines and the port the
/// server listened on.
pub async fn transcript() -> anyhow::Result<(Vec<String>, u16)> {
    let options = Options {
        server: Server::Step("step1"),
        clients: 500,
    };
    let building = options.clone();
    tokio::task::spawn_blocking(move || prepare(&building)).await??;
    let measured = measure(&options, |_, _| {}).await?;
    let mut lines = vec![format!(
        "$ cargo xtask load --step 1 --clients {}",
        options.clients
    )];
    lines.extend(measured.report);
    Ok((lines, measured.port))
}

/// Makes room for the open files, then builds the step in release mode.
fn prepare(options: &Options) -> anyhow::Result<()> {
    // One socket for each client here and one in the server, which
    // inherits the limit of this process.
    crowd::ensure_open_files(options.clients as u64 + SPARE_FILES)
        .with_context(|| format!("--clients {}", options.clients))?;
    match options.server {
        Server::Step(package) => steps::build_release(package, "as a real service would run it"),
        Server::Program(_) => Ok(()),
    }
}

/// The lines of the report, and whether every client was greeted and
/// heard.
struct Measured {
    report: Vec<String>,
    port: u16,
    all_well: bool,
}

async fn measure(
    options: &Options,
    progress: impl FnMut(usize, usize),
) -> anyhow::Result<Measured> {
    let clients = options.clients;
    let (program, built) = match &options.server {
        Server::Step(package) => (
            Program::of_build(package, Build::Release),
            " (release build)",
        ),
        Server::Program(path) => (Program::other(path), ""),
    };
    let name = &program.name;
    let mut server = program.start(&[]).await?;
    let pid = server.pid().context("the server has already ended")?;
    let at_start = crowd::resident_memory_kib(pid)?;
    let cpu_at_start = crowd::cpu_time(pid)?;
    let mut report = vec![format!(
        "{name}{built} listens on port {}; opening {clients} clients, {CONNECTING_AT_ONCE} handshaking at a time",
        server.port
    )];

    let crowd = crowd::gather_and_hold(server.port, clients, CONNECTING_AT_ONCE, progress).await;
    let greeted = crowd.gathering.greeted;
    let is_received = |line: &str| line.starts_with("Received: client ");
    let count_received = || {
        server
            .output
            .lines()
            .iter()
            .filter(|line| is_received(line))
            .count()
    };
    let all_printed = async {
        while count_received() < greeted {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(PRINT_TIMEOUT, all_printed).await;
    let received = count_received();

    // What the server holds with every client connected and heard, less
    // what it held before the first one came, is what the connections cost.
    let holding = crowd::resident_memory_kib(pid)?;
    // The processor time the server spent on the clients: on a machine
    // shared with the load tool's own clients, greetings per second also
    // depend on how fast the clients are; this does not.
    let cpu = crowd::cpu_time(pid)?.saturating_sub(cpu_at_start);
    let per_connection = holding.saturating_sub(at_start) as f64 / greeted.max(1) as f64;
    let gathering = crowd.leave().await;
    // The kernel updates its high-water mark only now and then, so it can
    // read lower than what we saw ourselves.
    let peak = crowd::peak_memory_kib(pid)?.max(holding);

    server.interrupt()?;
    let stopped = server.exit_status(STOP_TIMEOUT).await;

    let mib = |kib: u64| kib as f64 / 1024.0;
    report.extend([
        format!("clients greeted:          {greeted} of {clients}"),
        format!(
            "time to greet all:        {:.2} s",
            gathering.time_to_greet_all.as_secs_f64()
        ),
        format!(
            "greetings:                {:.0} a second",
            gathering.greetings_per_second()
        ),
        format!(
            "server CPU per client:    {:.0} µs, {:.2} s in all",
            cpu.as_secs_f64() * 1e6 / greeted.max(1) as f64,
            cpu.as_secs_f64()
        ),
        format!("memory per connection:    {per_connection:.1} KiB, with all {greeted} held open"),
        format!(
            "server memory (RSS):      {:.1} MiB at start, {:.1} MiB holding {greeted} clients, {:.1} MiB at most",
            mib(at_start),
            mib(holding),
            mib(peak)
        ),
        format!("Received lines printed:   {received} of {greeted}"),
    ]);
    for failure in &gathering.failures {
        report.push(format!("failure: {failure}"));
    }
    match stopped {
        Some(status) if status.success() => {}
        Some(status) => report.push(format!("after Ctrl+C the server ended with {status}")),
        None => report.push(format!(
            "the server did not end within {STOP_TIMEOUT:?} of Ctrl+C"
        )),
    }
    Ok(Measured {
        report,
        port: server.port,
        all_well: greeted == clients && received == clients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    /// `--program` loads any server started like a step: here the debug
    /// build of step 1, named by its path.
    #[tokio::test(flavor = "multi_thread")]
    async fn another_program_is_loaded_like_a_step() {
        tokio::task::spawn_blocking(steps::build)
            .await
            .unwrap()
            .unwrap();
        let path = steps::binary("step1", Build::Debug);
        let options = parse(&args(&[
            "--program",
            path.to_str().unwrap(),
            "--clients",
            "20",
        ]))
        .expect("a program that exists is accepted");
        let measured = measure(&options, |_, _| {}).await.unwrap();
        assert!(measured.all_well, "{:#?}", measured.report);
        let first = &measured.report[0];
        assert!(
            first.starts_with(&format!("{} listens on port ", path.display())),
            "{first}"
        );
        assert!(
            measured
                .report
                .iter()
                .any(|line| line == "clients greeted:          20 of 20"),
            "{:#?}",
            measured.report
        );
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
}
