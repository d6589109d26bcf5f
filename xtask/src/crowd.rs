//! Many WebSocket clients at once, for `cargo xtask load` and the tests.
//!
//! Every client connects to `ws://127.0.0.1:port/`, waits for the greeting,
//! sends one message of its own (`client 00042`), and stays connected until
//! all the others have done the same (and, for `gather_and_hold`, until the
//! caller lets them go); then they all close politely.
//!
//! The clients speak the protocol by hand over plain TCP (the upgrade with
//! RFC 6455's sample key, then masked frames), not through tungstenite:
//! they share the machine with the server they measure, so each does as
//! little as a client can. With tungstenite's client, the clients took
//! more of the processor than the server did, and set its pace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::wire;

/// How long one client may wait for its greeting, queueing included.
const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the closing of all clients may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the clients saw.
pub struct Gathering {
    pub greeted: usize,
    /// The first few failures, in words.
    pub failures: Vec<String>,
    pub failed: usize,
    /// From the first connection attempt to the last greeting.
    pub time_to_greet_all: Duration,
}

impl Gathering {
    pub fn greetings_per_second(&self) -> f64 {
        self.greeted as f64 / self.time_to_greet_all.as_secs_f64().max(1e-9)
    }
}

/// The message client number `index` sends.
pub fn message_of(index: usize) -> String {
    format!("client {index:05}")
}

/// The clients once every one has been greeted or has failed, still
/// connected, so that the server can be measured while it holds them.
pub struct Crowd {
    pub gathering: Gathering,
    release: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Crowd {
    /// Closes every client politely and waits for the server's answers.
    pub async fn leave(mut self) -> Gathering {
        self.release.send_replace(true);
        let all_closed = async { while self.tasks.join_next().await.is_some() {} };
        if timeout(CLOSE_TIMEOUT, all_closed).await.is_err() {
            self.tasks.abort_all();
        }
        self.gathering
    }
}

/// Opens `clients` WebSockets to the server on `port`, at most
/// `connecting_at_once` of them handshaking at the same time, reports
/// progress as (greeted, failed) every few hundred milliseconds, and
/// closes them all once every one is in.
#[cfg(test)]
pub async fn gather(
    port: u16,
    clients: usize,
    connecting_at_once: usize,
    progress: impl FnMut(usize, usize),
) -> Gathering {
    gather_and_hold(port, clients, connecting_at_once, progress)
        .await
        .leave()
        .await
}

/// Like `gather`, but the clients stay connected until `Crowd::leave`.
pub async fn gather_and_hold(
    port: u16,
    clients: usize,
    connecting_at_once: usize,
    mut progress: impl FnMut(usize, usize),
) -> Crowd {
    let started = Instant::now();
    let connecting = Arc::new(Semaphore::new(connecting_at_once.max(1)));
    let (release, released) = watch::channel(false);
    let (results, mut arrivals) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..clients {
        let connecting = connecting.clone();
        let results = results.clone();
        let released = released.clone();
        tasks.spawn(async move {
            let permit = connecting.acquire_owned().await;
            let greeted = timeout(GREETING_TIMEOUT, greet_and_send(port, index)).await;
            drop(permit);
            let outcome = match greeted {
                Ok(Ok(socket)) => Ok(socket),
                Ok(Err(error)) => Err(format!("client {index}: {error:#}")),
                Err(_) => Err(format!(
                    "client {index}: not greeted within {GREETING_TIMEOUT:?}"
                )),
            };
            // Report, and let go of `results` at once: the count ends when
            // every client has reported, while the sockets stay open.
            let _ = results.send(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
            drop(results);
            if let Ok(socket) = outcome {
                close_when_released(socket, released).await;
            }
        });
    }
    drop(results);

    let mut gathering = Gathering {
        greeted: 0,
        failures: Vec::new(),
        failed: 0,
        time_to_greet_all: Duration::ZERO,
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            arrival = arrivals.recv() => match arrival {
                Some(Ok(())) => {
                    gathering.greeted += 1;
                    gathering.time_to_greet_all = started.elapsed();
                }
                Some(Err(failure)) => {
                    gathering.failed += 1;
                    if gathering.failures.len() < 5 {
                        gathering.failures.push(failure);
                    }
                }
                None => break,
            },
            _ = ticks.tick() => progress(gathering.greeted, gathering.failed),
        }
    }
    progress(gathering.greeted, gathering.failed);
    Crowd {
        gathering,
        release,
        tasks,
    }
}

async fn greet_and_send(port: u16, index: usize) -> anyhow::Result<wire::RawSocket> {
    let mut stream = wire::greeted_raw(port).await?;
    let message = wire::masked_frame(0x1, message_of(index).as_bytes());
    stream
        .write_all(&message)
        .await
        .context("cannot send the message")?;
    Ok(stream)
}

/// Waits until every client is in, then sends a close frame and reads
/// until the server, having answered it, ends the connection.
async fn close_when_released(mut stream: wire::RawSocket, mut released: watch::Receiver<bool>) {
    let _ = released.wait_for(|go| *go).await;
    let goodbye = async {
        stream
            .write_all(&wire::masked_frame(0x8, &1000u16.to_be_bytes()))
            .await?;
        let mut rest = [0; 64];
        while stream.read(&mut rest).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = timeout(CLOSE_TIMEOUT, goodbye).await;
}

/// Makes sure this process may open `needed` files (each socket is one),
/// raising its soft limit to the hard one with `prlimit` if it must.
/// Processes started afterwards, such as the servers, inherit the new
/// limit. Linux only, like the memory figures below.
pub fn ensure_open_files(needed: u64) -> anyhow::Result<()> {
    let (soft, hard) = open_files_limit()?;
    if soft >= needed {
        return Ok(());
    }
    ensure!(
        hard >= needed,
        "{needed} open files are needed (one per socket), but this shell allows at most {hard} \
         (`ulimit -Hn`): raise that limit as root (`ulimit -Hn {needed}`, or `nofile` in \
         /etc/security/limits.conf) and run `ulimit -n {needed}`, or use fewer clients"
    );
    // prlimit changes the limit of a running process, here this one; std
    // has no call for it, and a crate for one call is not worth it.
    let raised = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .is_ok_and(|status| status.success());
    let (soft, _) = open_files_limit()?;
    ensure!(
        raised && soft >= needed,
        "{needed} open files are needed (one per socket), but the limit is {soft} and prlimit \
         could not raise it: run `ulimit -n {hard}` in this shell first"
    );
    Ok(())
}

/// The soft and hard limits on open files, from /proc/self/limits.
fn open_files_limit() -> anyhow::Result<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits")
        .context("cannot read /proc/self/limits (Linux only)")?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .context("no `Max open files` in /proc/self/limits")?;
    let mut numbers = line["Max open files".len()..]
        .split_whitespace()
        .map(|field| match field {
            "unlimited" => Ok(u64::MAX),
            number => number.parse::<u64>(),
        });
    match (numbers.next(), numbers.next()) {
        (Some(Ok(soft)), Some(Ok(hard))) => Ok((soft, hard)),
        _ => bail!("cannot read the open-file limits in {line:?}"),
    }
}

/// The memory a process holds now (VmRSS), in KiB.
pub fn resident_memory_kib(pid: u32) -> anyhow::Result<u64> {
    memory_kib(pid, "VmRSS:")
}

/// The most memory a process has held at once (VmHWM), in KiB.
pub fn peak_memory_kib(pid: u32) -> anyhow::Result<u64> {
    memory_kib(pid, "VmHWM:")
}

/// The tick in which `/proc/<pid>/stat` counts processor time: 1/100 s
/// (Linux's USER_HZ).
pub const CPU_TICK: Duration = Duration::from_millis(10);

/// Where a process's processor time is read from, and so how finely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CpuClock {
    /// The scheduler's own count for each thread, in nanoseconds
    /// (`/proc/<pid>/task/*/schedstat`). A thread that has ended takes its
    /// share with it; a server's runtime threads live as long as it does.
    Scheduler,
    /// `/proc/<pid>/stat`, in whole `CPU_TICK`s, ended threads included.
    Ticks,
}

impl CpuClock {
    /// The finer clock where the kernel keeps it.
    pub fn for_process(pid: u32) -> CpuClock {
        match scheduler_time(pid) {
            Ok(time) if !time.is_zero() => CpuClock::Scheduler,
            _ => CpuClock::Ticks,
        }
    }

    /// The processor time the process has used so far, all its threads, in
    /// user and system mode together.
    pub fn read(self, pid: u32) -> anyhow::Result<Duration> {
        match self {
            CpuClock::Scheduler => scheduler_time(pid),
            CpuClock::Ticks => ticks_time(pid),
        }
    }
}

fn scheduler_time(pid: u32) -> anyhow::Result<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("cannot read /proc/{pid}/task (Linux only)"))?;
    let mut total = Duration::ZERO;
    for task in tasks {
        let schedstat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        // The time on the processor, in ns; then the time spent waiting.
        let nanos: u64 = schedstat
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .context("no run time in a schedstat")?;
        total += Duration::from_nanos(nanos);
    }
    Ok(total)
}

fn ticks_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat (Linux only)"))?;
    // The command name, in parentheses, may hold spaces: count fields
    // after its closing parenthesis. utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("no CPU time in /proc/{pid}/stat"))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(CPU_TICK * u32::try_from(total)?)
}

/// A memory figure of `/proc/<pid>/status`, such as `VmRSS:  2048 kB`.
fn memory_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (Linux only)"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} line in /proc/{pid}/status"))
}
