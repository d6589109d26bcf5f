//! Steps 1 and 3, or another program started like them: many clients,
//! each greeted by one server and sending it one message, while the
//! server's memory and processor time are read.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::memory::kernel_memory_per_socket;
use crate::crowd;
use crate::steps::{Build, Program};

/// How many clients may be in the middle of their handshake at once. More
/// would only overflow the server's accept queue and wait for TCP's retries.
const CONNECTING_AT_ONCE: usize = 256;

/// How long the server may take to end after Ctrl+C.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to print the last `Received:` line.
const PRINT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many clients, and which server.
#[derive(Clone)]
pub struct Options {
    pub server: Server,
    pub clients: usize,
}

/// What to load: a server step of the workspace, or another program that
/// behaves like one, such as the original tutorial's Node server.
#[derive(Clone)]
pub enum Server {
    Step(&'static str),
    Program(PathBuf),
}

/// Builds the step in release mode, as a real service would run it.
pub fn build(options: &Options) -> anyhow::Result<()> {
    match options.server {
        Server::Step(package) => {
            crate::steps::build_release(package, "as a real service would run it")
        }
        Server::Program(_) => Ok(()),
    }
}

/// The lines of the report, and whether every client was greeted and
/// heard.
pub struct Measured {
    pub report: Vec<String>,
    pub all_well: bool,
}

pub async fn measure(
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
    let cpu_clock = crowd::CpuClock::for_process(pid);
    let cpu_at_start = cpu_clock.read(pid)?;
    let mut report = vec![format!(
        "{name}{built} started on a free port; {clients} clients connect to 127.0.0.1:{}, {CONNECTING_AT_ONCE} handshaking at a time",
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
    let cpu = cpu_clock.read(pid)?.saturating_sub(cpu_at_start);
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
        cpu_per_client(cpu, greeted, cpu_clock),
        format!("memory per connection:    {per_connection:.1} KiB, with all {greeted} held open"),
        kernel_memory_per_socket(),
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
        all_well: greeted == clients && received == clients,
    })
}

/// The server's processor time per client, with what the clock can tell
/// apart. Counted in whole ticks, one tick spread over the clients is the
/// figure's resolution, and a few hundred clients may take less than one.
fn cpu_per_client(cpu: Duration, clients: usize, clock: crowd::CpuClock) -> String {
    let clients = clients.max(1) as f64;
    let micros = |time: Duration| time.as_secs_f64() * 1e6 / clients;
    match clock {
        crowd::CpuClock::Scheduler => format!(
            "server CPU per client:    {:.0} µs, {:.3} s in all, by the scheduler's clock (ns)",
            micros(cpu),
            cpu.as_secs_f64()
        ),
        // One shape for every figure, 0 included: `0 µs ± 20 µs` is true.
        crowd::CpuClock::Ticks => format!(
            "server CPU per client:    {:.0} µs ± {:.0} µs, {:.2} s in all, counted in {} ms ticks",
            micros(cpu),
            micros(crowd::CPU_TICK),
            cpu.as_secs_f64(),
            crowd::CPU_TICK.as_millis()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--program` loads any server started like a step: here the debug
    /// build of step 1, named by its path.
    #[tokio::test(flavor = "multi_thread")]
    async fn another_program_is_loaded_like_a_step() {
        tokio::task::spawn_blocking(crate::steps::build)
            .await
            .unwrap()
            .unwrap();
        let path = crate::steps::binary("step1", Build::Debug);
        let options = Options {
            server: Server::Program(path.clone()),
            clients: 20,
        };
        let measured = measure(&options, |_, _| {}).await.unwrap();
        assert!(measured.all_well, "{:#?}", measured.report);
        // Here, Linux, the scheduler's clock counts the server's time.
        assert!(
            measured
                .report
                .iter()
                .any(|line| line.starts_with("server CPU per client:")
                    && line.ends_with("by the scheduler's clock (ns)")
                    && !line.starts_with("server CPU per client:    0 µs")),
            "{:#?}",
            measured.report
        );
        let first = &measured.report[0];
        assert!(
            first.starts_with(&format!(
                "{} started on a free port; 20 clients connect to 127.0.0.1:",
                path.display()
            )),
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
    fn the_cpu_figure_says_what_the_clock_resolves() {
        use crowd::CpuClock::{Scheduler, Ticks};
        assert_eq!(
            cpu_per_client(Duration::from_millis(40), 500, Ticks),
            "server CPU per client:    80 µs ± 20 µs, 0.04 s in all, counted in 10 ms ticks"
        );
        assert_eq!(
            cpu_per_client(Duration::ZERO, 500, Ticks),
            "server CPU per client:    0 µs ± 20 µs, 0.00 s in all, counted in 10 ms ticks"
        );
        assert_eq!(
            cpu_per_client(Duration::from_micros(42_123), 500, Scheduler),
            "server CPU per client:    84 µs, 0.042 s in all, by the scheduler's clock (ns)"
        );
    }
}
