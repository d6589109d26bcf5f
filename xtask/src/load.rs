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
//!
//! The server is measured through Linux's `/proc`; where there is none
//! (macOS, Windows) the command says so in one line before it builds
//! anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

use crate::crowd;
use crate::lang::Lang;
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

/// What the kernel allocates for each TCP socket, by slab cache: the
/// socket itself (`TCP` for IPv4, as the clients connect to 127.0.0.1),
/// its inode, its open file, and its directory entry. None of it is in
/// the process's resident memory.
const SOCKET_SLABS: [&str; 4] = ["TCP", "sock_inode_cache", "filp", "dentry"];

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
    let mut args = args.to_vec();
    let lang = Lang::take_from(&mut args)?;
    let args = &args[..];
    let options = parse(args)?;
    if let Some(refusal) = cannot_measure(Path::new("/proc"), lang) {
        eprintln!("{refusal}");
        return Ok(ExitCode::FAILURE);
    }
    if cfg!(debug_assertions) {
        return run_release_build(args, lang);
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
    Ok(lines)
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

/// What each TCP socket costs the kernel, from the sizes of its slab
/// objects (`/sys/kernel/slab`, readable by anyone, or `/proc/slabinfo`,
/// root's only). It is per socket, whatever the server's language.
fn kernel_memory_per_socket() -> String {
    let sizes: Option<Vec<(&str, u64)>> = SOCKET_SLABS
        .iter()
        .map(|slab| Some((*slab, slab_size(slab)?)))
        .collect();
    match sizes {
        Some(sizes) => {
            let total: u64 = sizes.iter().map(|(_, size)| size).sum();
            let parts: Vec<String> = sizes
                .iter()
                .map(|(slab, size)| format!("{slab} {size} B"))
                .collect();
            format!(
                "kernel memory per socket: at least {:.1} KiB more, not in RSS ({})",
                total as f64 / 1024.0,
                parts.join(", ")
            )
        }
        None => "kernel memory per socket: not readable here (no /sys/kernel/slab or /proc/slabinfo), and not in RSS".to_string(),
    }
}

/// The size in bytes one object of a slab cache takes, padding included.
fn slab_size(slab: &str) -> Option<u64> {
    let from_sys = std::fs::read_to_string(format!("/sys/kernel/slab/{slab}/slab_size"))
        .ok()
        .and_then(|text| text.trim().parse().ok());
    from_sys.or_else(|| {
        // name, active objects, objects, object size, ...
        let slabinfo = std::fs::read_to_string("/proc/slabinfo").ok()?;
        slabinfo.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next()? == slab).then(|| fields.nth(2)?.parse().ok())?
        })
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
