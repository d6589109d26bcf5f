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

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::crowd;
use crate::steps::{self, Build, Running};

/// How many clients may be in the middle of their handshake at once. More
/// would only overflow the server's accept queue and wait for TCP's retries.
const CONNECTING_AT_ONCE: usize = 256;

/// The most clients we open: each needs a file on both sides.
const MAX_CLIENTS: usize = 10_000;

/// Open files each process needs besides one per client: standard streams,
/// listeners, the runtime's own, and cargo's while it builds.
const SPARE_FILES: u64 = 256;

/// How long the server may take to print the last `Received:` line.
const PRINT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Options {
    package: &'static str,
    clients: usize,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut package = None;
    let mut clients = 2000;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().map(String::as_str).unwrap_or_default();
        match arg.as_str() {
            "--step" => {
                package = Some(match value {
                    "1" => "step1",
                    "3" => "step3",
                    _ => bail!("--step takes 1 or 3 (the server steps), not `{value}`"),
                })
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
    let package = package.context("say which server to load: --step 1 or --step 3")?;
    Ok(Options { package, clients })
}

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let options = parse(args)?;
    prepare(&options)?;
    let runtime = tokio::runtime::Runtime::new()?;
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

/// What chapter 4 shows: `cargo xtask load --step 1 --clients 500`, run
/// for real, without the progress line. Returns the lines and the port the
/// server listened on.
pub async fn transcript() -> anyhow::Result<(Vec<String>, u16)> {
    let options = Options {
        package: "step1",
        clients: 500,
    };
    tokio::task::spawn_blocking(move || prepare(&options)).await??;
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
    steps::build_release(options.package)
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
    let Options { package, clients } = *options;
    let mut server = Running::start_build(package, Build::Release, &[]).await?;
    let pid = server.pid().context("the server has already ended")?;
    let at_start = crowd::resident_memory_kib(pid)?;
    let cpu_at_start = crowd::cpu_time(pid)?;
    let mut report = vec![format!(
        "{package} (release build) listens on port {}; opening {clients} clients, {CONNECTING_AT_ONCE} handshaking at a time",
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
    let stopped = server.exit_status(Duration::from_secs(5)).await;

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
    if stopped.is_none_or(|status| !status.success()) {
        report.push(format!(
            "the server did not exit cleanly after Ctrl+C: {stopped:?}"
        ));
    }
    Ok(Measured {
        report,
        port: server.port,
        all_well: greeted == clients && received == clients,
    })
}
