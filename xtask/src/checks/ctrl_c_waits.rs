//! What Ctrl+C waits for, and what it must not wait for. A server step
//! says goodbye with a close frame (1001) and keeps the connection open
//! until the client answers with its own: RFC 6455 (section 7.1.1) has the
//! server hang up only once both close frames are sent, the closing
//! handshake. But once every client has answered, nothing is left to wait
//! for, and the step exits at once rather than after its grace period.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::{PROMPTLY, Sink};
use crate::steps::{Output, Program, Running};
use crate::wire;

/// How long the steps wait for clients to answer their close frame
/// (`GRACE` in each step's `shutdown` module).
const STEP_GRACE: Duration = Duration::from_secs(1);

/// How late our client answers the close frame: slow for a client, and
/// still well inside the steps' grace period.
const ANSWER_DELAY: Duration = Duration::from_millis(100);

/// How long the step runs with its clients before Ctrl+C.
const SETTLE: Duration = Duration::from_millis(100);

/// Exiting sooner than this after the last answer counts as at once. Half
/// the grace period leaves a busy machine hundreds of milliseconds for
/// what takes a few, while a step that sits out its whole grace period
/// after a late answer takes about 900.
const AT_ONCE: Duration = Duration::from_millis(500);

/// Starts a fresh `package` process (Ctrl+C ends it), with one WebSocket
/// client, and for step 3 also the idle keep-alive connection a browser
/// keeps after loading the page. Records two checks: the close frame's
/// answer is awaited, and the step exits at once after it.
pub async fn run(package: &str, sink: &Sink) {
    let program = Program::of(package);
    let (waited, exited, output) = check(&program, package == "step3").await;
    sink.record(package, waited, output.as_ref());
    sink.record(package, exited, output.as_ref());
}

/// The two checks against `program`, with a browser's keep-alive
/// connection too when `page_served`, and what the program printed.
pub async fn check(
    program: &Program,
    page_served: bool,
) -> (
    anyhow::Result<String>,
    anyhow::Result<String>,
    Option<Output>,
) {
    let mut server = match program.start(&[]).await {
        Ok(server) => server,
        Err(error) => {
            let not_started = || Err(anyhow!("{} did not start: {error:#}", program.name));
            return (not_started(), not_started(), None);
        }
    };
    let (waited, exited) = match scenario(page_served, &mut server).await {
        Ok((waited, exited)) => (Ok(waited), exited),
        Err(error) => (Err(error), Err(anyhow!("Ctrl+C: not measured, see above"))),
    };
    (waited, exited, Some(server.output.clone()))
}

/// Presses Ctrl+C and answers the close frame late. Returns what the first
/// check saw, and the second check's result.
async fn scenario(
    page_served: bool,
    server: &mut Running,
) -> anyhow::Result<(String, anyhow::Result<String>)> {
    let browser_connection = if page_served {
        Some(idle_keep_alive(server.port).await?)
    } else {
        None
    };
    let mut client = wire::greeted_raw(server.port).await?;
    // The steps start listening for Ctrl+C on their accept loop's next
    // turn after a client arrives; a moment here keeps this check about
    // what Ctrl+C waits for, not about that first instant.
    tokio::time::sleep(SETTLE).await;
    server.interrupt()?;
    let (code, _) = match wire::read_close_frame(&mut client).await {
        Ok(frame) => frame,
        Err(error) => {
            let status = server.exit_status(PROMPTLY).await;
            bail!("Ctrl+C: no close frame ({error:#}); the process ended with {status:?}");
        }
    };
    ensure!(code == 1001, "Ctrl+C: close code {code}, not 1001");
    let close_arrived = Instant::now();

    // Nothing may come now: the server waits for our answer.
    let mut byte = [0; 1];
    match timeout(ANSWER_DELAY, client.read(&mut byte)).await {
        Err(_) => {}
        Ok(Ok(0)) => bail!(
            "Ctrl+C: the server hung up {} ms after its close frame, without waiting for the \
             client's answer (the closing handshake left half done)",
            close_arrived.elapsed().as_millis()
        ),
        Ok(Ok(_)) => bail!("Ctrl+C: the server sent more after its close frame"),
        Ok(Err(error)) => bail!(
            "Ctrl+C: the connection was reset {} ms after the close frame, before the client \
             answered: {error}",
            close_arrived.elapsed().as_millis()
        ),
    }
    client
        .write_all(&wire::masked_frame(0x8, &code.to_be_bytes()))
        .await
        .context("Ctrl+C: the server did not take our answer to its close frame")?;
    let answered = Instant::now();
    let mut rest = Vec::new();
    let ended = timeout(PROMPTLY, client.read_to_end(&mut rest)).await;
    ensure!(
        matches!(ended, Ok(Ok(_))),
        "Ctrl+C: after our answer the server did not hang up cleanly within {PROMPTLY:?}: {ended:?}"
    );
    let waited = format!(
        "Ctrl+C: the server kept the connection open until the client answered its 1001, \
         {} ms late, then hung up cleanly",
        ANSWER_DELAY.as_millis()
    );

    let exited = async {
        let status = server
            .exit_status(STEP_GRACE + PROMPTLY)
            .await
            .context("the process did not exit after Ctrl+C")?;
        let took = answered.elapsed();
        ensure!(status.success(), "exit status {status} after Ctrl+C, not 0");
        let with_browser = if browser_connection.is_some() {
            " (a browser's idle keep-alive connection open too)"
        } else {
            ""
        };
        ensure!(
            took < AT_ONCE,
            "Ctrl+C: every client had answered{with_browser}, yet the process took {} ms more to \
             exit: it sat out its grace period ({} ms) instead of ending once all were closed",
            took.as_millis(),
            STEP_GRACE.as_millis()
        );
        Ok(format!(
            "Ctrl+C: once every client had answered{with_browser}, the process exited {} ms later, \
             not after its {} ms grace period",
            took.as_millis(),
            STEP_GRACE.as_millis()
        ))
    }
    .await;
    drop(browser_connection);
    Ok((waited, exited))
}

/// A connection that has loaded the page and stays open, as a browser's
/// does between two requests.
async fn idle_keep_alive(port: u16) -> anyhow::Result<tokio::net::TcpStream> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .context("cannot connect")?;
    let request = format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\nAccept: text/html\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let read_page = async {
        loop {
            if let Ok(parsed) = wire::parse_http(&answer) {
                let length: usize = parsed
                    .header("content-length")
                    .and_then(|length| length.parse().ok())
                    .unwrap_or(0);
                if parsed.body.len() >= length {
                    return Ok(());
                }
            }
            if stream.read_buf(&mut answer).await? == 0 {
                bail!(
                    "the server closed the page's connection: {}",
                    wire::printable(&answer)
                );
            }
        }
    };
    timeout(wire::ANSWER_TIMEOUT, read_page)
        .await
        .context("no complete page in time")??;
    Ok(stream)
}
