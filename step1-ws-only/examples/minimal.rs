//! The original tutorial's server, line for line: greet every client and
//! print what it sends. Run it with `cargo run -p step1 --example minimal`.
//! Chapter 1 shows what it does not do, and why step 1 does more.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::accept_async;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // new WebSocket.Server({ port: 8080 })
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let server = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("ws://localhost:{}", server.local_addr()?.port());

    // server.on('connection', ws => { ... }), one task per client
    loop {
        let (stream, _) = server.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = accept_async(stream).await else {
                return;
            };
            // ws.send('Hello, WebSocket!')
            let _ = ws.send(Message::text("Hello, WebSocket!")).await;
            // ws.on('message', message => console.log('Received: %s', message))
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    println!("Received: {text}");
                }
            }
        });
    }
}
