//! Step 4's pages as the load opens them by hand: logged in, over a raw
//! WebSocket, reading every frame and noting when each numbered chat line
//! arrived.
//!
//! Thousands of them share one thread with the sender, so each does as
//! little as a page can: it takes the frames out of its own buffer in
//! place and looks only for the line's number, without parsing the JSON.
//! The tests of step 4 open their crowds with these too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

use crate::many_servers;
use crate::wire::{self, RawSocket};

/// The start of every numbered chat line's text, as it appears in the
/// JSON the server sends: `"text":"line 42"`.
const LINE_PREFIX: &str = "line ";
const LINE_IN_JSON: &[u8] = b"\"text\":\"line ";

/// How long a page waits for the server's answer to its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// How many bytes a page reads at a time: many frames at once when the
/// chat is busy.
const READ_SIZE: usize = 16 * 1024;

/// The text of chat line `number`, padded with dots to `length`
/// characters when it is shorter.
pub fn line_text(number: u32, length: usize) -> String {
    let text = format!("{LINE_PREFIX}{number}");
    format!("{text:.<length$}")
}

/// Which numbered line a text frame from the server carries, if any.
fn line_number(payload: &[u8]) -> Option<u32> {
    let start = payload
        .windows(LINE_IN_JSON.len())
        .position(|window| window == LINE_IN_JSON)?
        + LINE_IN_JSON.len();
    let digits = payload[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// One arrival: page `page` got line `line`, `at` microseconds after the
/// arrivals' origin. Millions of them may wait to be counted: twelve
/// bytes each.
#[derive(Clone, Copy, Debug)]
pub struct Heard {
    pub page: u32,
    pub line: u32,
    pub at: u32,
}

/// What every page has heard so far, in one list, timed from one origin.
/// The pages run on one thread, so the lock is never waited for.
#[derive(Clone)]
pub struct Arrivals {
    origin: Instant,
    heard: Arc<Mutex<Vec<Heard>>>,
}

impl Arrivals {
    pub fn new() -> Arrivals {
        Arrivals {
            origin: Instant::now(),
            heard: Arc::default(),
        }
    }

    /// Now, in microseconds since the origin.
    pub fn now(&self) -> u32 {
        self.origin.elapsed().as_micros() as u32
    }

    pub fn count(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// Everything heard since the last `take`.
    pub fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }

    fn note(&self, heard: &mut Vec<Heard>) {
        if !heard.is_empty() {
            self.heard.lock().unwrap().append(heard);
        }
    }
}

/// Opens the chat on `port` as a logged-in page does (`token` is its
/// session), over a socket with `receive_buffer` bytes of room when given
/// (a page that stops reading then fills up sooner). Returns once the
/// history, the first message, has arrived.
pub async fn open_page(
    port: u16,
    token: &str,
    receive_buffer: Option<u32>,
) -> anyhow::Result<RawSocket> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .context("cannot connect")?;
    let headers = format!("Origin: http://localhost:{port}\r\nCookie: session={token}\r\n");
    let request = many_servers::upgrade_request(port, &headers);
    let mut page = wire::upgrade_raw(stream, &request).await?;
    let history = page
        .frame(wire::ANSWER_TIMEOUT)
        .await
        .context("no history after the 101")?;
    ensure!(
        history.opcode == wire::TEXT && history.payload.starts_with(b"{\"type\":\"history\""),
        "the first message is not the history: {}",
        wire::printable(&history.payload)
    );
    Ok(page)
}

/// How a page's reading ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// We closed it when told to, and the server answered.
    Left,
    /// The server closed it first, with this code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame, or broke.
    Broken(String),
}

/// A page that reads until `leave` says so, noting every numbered line it
/// hears in `arrivals` under number `page`; then it closes politely.
pub async fn listen(
    socket: RawSocket,
    page: u32,
    arrivals: Arrivals,
    mut leave: watch::Receiver<bool>,
) -> Ending {
    let (mut stream, mut buffer) = socket.into_parts();
    let mut heard = Vec::new();
    loop {
        if let Some(ending) = take_frames(&mut buffer, page, arrivals.now(), &mut heard) {
            arrivals.note(&mut heard);
            return ending;
        }
        arrivals.note(&mut heard);
        buffer.reserve(READ_SIZE);
        tokio::select! {
            read = stream.read_buf(&mut buffer) => match read {
                Ok(0) => return Ending::Broken("the connection ended without a close frame".into()),
                Ok(_) => {}
                Err(error) => return Ending::Broken(error.to_string()),
            },
            _ = async { leave.wait_for(|go| *go).await.is_ok() } => return close(stream).await,
        }
    }
}

/// Takes every whole frame off the front of `buffer`, noting numbered
/// lines; a close frame ends the page.
fn take_frames(
    buffer: &mut Vec<u8>,
    page: u32,
    now: u32,
    heard: &mut Vec<Heard>,
) -> Option<Ending> {
    let mut start = 0;
    let mut ending = None;
    while let Some(header) = wire::parse_header(&buffer[start..]) {
        let end = start + header.length + header.payload_length;
        if buffer.len() < end {
            break;
        }
        let payload = &buffer[start + header.length..end];
        match header.opcode {
            wire::TEXT => {
                if let Some(line) = line_number(payload) {
                    heard.push(Heard {
                        page,
                        line,
                        at: now,
                    });
                }
            }
            wire::CLOSE => {
                let code = payload
                    .get(..2)
                    .map_or(1005, |code| u16::from_be_bytes([code[0], code[1]]));
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                ending = Some(Ending::Closed(code, reason.into_owned()));
                break;
            }
            _ => {}
        }
        start = end;
    }
    buffer.drain(..start);
    ending
}

/// Sends a close frame (1000) and reads until the server, having answered
/// it, ends the connection.
async fn close(mut stream: TcpStream) -> Ending {
    let goodbye = async {
        stream
            .write_all(&wire::masked_frame(wire::CLOSE, &1000u16.to_be_bytes()))
            .await?;
        let mut rest = vec![0; READ_SIZE];
        while stream.read(&mut rest).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    match timeout(CLOSE_WAIT, goodbye).await {
        Ok(Ok(())) => Ending::Left,
        Ok(Err(error)) => Ending::Broken(format!("while closing: {error}")),
        Err(_) => Ending::Broken(format!("no end to the closing within {CLOSE_WAIT:?}")),
    }
}

/// A page that reads nothing until `read_again` says so, and then reads
/// until the server's close frame: its code and reason.
pub async fn stop_reading(
    socket: RawSocket,
    mut read_again: watch::Receiver<bool>,
) -> anyhow::Result<(u16, String)> {
    let _ = read_again.wait_for(|go| *go).await;
    let mut socket = socket;
    socket.close_frame().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_number_is_found_in_the_json_the_server_sends() {
        let text = line_text(42, 12);
        assert_eq!(text, "line 42.....");
        let json = format!(r#"{{"type":"chat","id":"1-0","author":"sender","text":"{text}"}}"#);
        assert_eq!(line_number(json.as_bytes()), Some(42));
        assert_eq!(line_number(br#"{"type":"joined","name":"line 4"}"#), None);
    }

    #[test]
    fn frames_split_across_reads_are_taken_whole() {
        let json = format!(r#"{{"type":"chat","text":"{}"}}"#, line_text(7, 0));
        let mut bytes = wire::encode(0x81, None, json.as_bytes());
        bytes.extend(wire::encode(0x81, None, json.as_bytes()));
        let mut close = vec![0x03, 0xf0];
        close.extend(b"too slow");
        let close = wire::encode(0x88, None, &close);
        let split = bytes.len() - 3;
        let mut buffer = bytes[..split].to_vec();
        let mut heard = Vec::new();
        assert_eq!(take_frames(&mut buffer, 3, 0, &mut heard), None);
        assert_eq!(heard.len(), 1);
        buffer.extend(&bytes[split..]);
        buffer.extend(&close);
        let ending = take_frames(&mut buffer, 3, 0, &mut heard);
        assert_eq!(ending, Some(Ending::Closed(1008, "too slow".into())));
        assert_eq!(
            heard.iter().map(|h| (h.page, h.line)).collect::<Vec<_>>(),
            [(3, 7), (3, 7)]
        );
    }
}
