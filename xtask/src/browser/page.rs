//! One page in the browser and what it did: its console, responses, failed
//! requests and WebSockets (`Seen`, noted from the DevTools events), and
//! what a test does in it (run a script, type, press Enter, click).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use super::devtools::Connection;

/// One page, and what it did so far.
pub struct Page {
    pub(super) connection: Arc<Connection>,
    pub(super) session: String,
    /// The page's own browser context, which `close` disposes of.
    pub(super) context: Value,
    pub(super) events: mpsc::UnboundedReceiver<Value>,
    pub seen: Seen,
}

impl Drop for Page {
    /// Stops routing this page's events; the browser drops them.
    fn drop(&mut self) {
        self.connection
            .sessions
            .lock()
            .unwrap()
            .remove(&self.session);
    }
}

/// What a page did, as the developer tools would show it.
#[derive(Default, Debug)]
pub struct Seen {
    /// Console lines, from the page's scripts and from the browser itself
    /// (such as "Failed to load resource"), and uncaught exceptions.
    pub console: Vec<ConsoleLine>,
    /// Each response: its URL and status.
    pub responses: Vec<(String, u16)>,
    /// Each request that got no response: its URL and the browser's reason.
    pub failed: Vec<(String, String)>,
    /// The URL of each WebSocket the page opened, as the browser
    /// resolved it.
    pub websockets: Vec<String>,
    /// Network request ids and their URLs, to name the failed ones.
    requests: HashMap<String, String>,
}

#[derive(Debug)]
pub struct ConsoleLine {
    /// `log`, `info`, `warning`, `error`, ...
    pub level: String,
    pub text: String,
    /// The resource it is about, when the browser says.
    pub url: Option<String>,
}

impl ConsoleLine {
    pub fn is_error(&self) -> bool {
        self.level == "error"
    }
}

impl std::fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "[{}] {}", self.level, self.text)?;
        if let Some(url) = &self.url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

impl Seen {
    pub fn console_has(&self, text: &str) -> bool {
        self.console.iter().any(|line| line.text == text)
    }

    pub fn errors(&self) -> Vec<&ConsoleLine> {
        self.console.iter().filter(|line| line.is_error()).collect()
    }

    pub fn status_of(&self, url: &str) -> Option<u16> {
        self.responses
            .iter()
            .find(|(seen, _)| seen == url)
            .map(|&(_, status)| status)
    }

    /// Notes one CDP event; events this module does not use are ignored.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        match event["method"].as_str().unwrap_or_default() {
            "Runtime.consoleAPICalled" => {
                // console.log('a', 1) has two arguments; join them as the
                // console shows them.
                let arguments = params["args"].as_array().cloned().unwrap_or_default();
                let words: Vec<String> = arguments
                    .iter()
                    .map(|argument| match &argument["value"] {
                        Value::String(word) => word.clone(),
                        Value::Null => text(&argument["description"]),
                        other => other.to_string(),
                    })
                    .collect();
                // A failed console.assert() is shown as an error.
                let level = match text(&params["type"]).as_str() {
                    "assert" => "error".to_string(),
                    other => other.to_string(),
                };
                self.console.push(ConsoleLine {
                    level,
                    text: words.join(" "),
                    url: None,
                });
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                self.console.push(ConsoleLine {
                    level: text(&entry["level"]),
                    text: text(&entry["text"]),
                    url: entry["url"].as_str().map(str::to_string),
                });
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let description = details["exception"]["description"]
                    .as_str()
                    .unwrap_or_else(|| details["text"].as_str().unwrap_or_default());
                self.console.push(ConsoleLine {
                    level: "error".to_string(),
                    text: description.to_string(),
                    url: details["url"].as_str().map(str::to_string),
                });
            }
            "Network.requestWillBeSent" => {
                self.requests
                    .insert(text(&params["requestId"]), text(&params["request"]["url"]));
            }
            "Network.webSocketCreated" => self.websockets.push(text(&params["url"])),
            "Network.responseReceived" => {
                let response = &params["response"];
                let status = response["status"].as_u64().unwrap_or_default();
                self.responses.push((
                    text(&response["url"]),
                    status.try_into().unwrap_or_default(),
                ));
            }
            "Network.loadingFailed" => {
                let url = self
                    .requests
                    .get(params["requestId"].as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or_else(|| "(unknown URL)".to_string());
                self.failed.push((url, text(&params["errorText"])));
            }
            _ => {}
        }
    }
}

impl Page {
    /// Closes the page, with its browser context: its scripts stop (a page
    /// that keeps reconnecting to a server that is gone, say) and the
    /// browser frees what it held. Dropping a page only stops listening to
    /// it; a check that opens many pages closes each when it is done.
    pub async fn close(self) {
        let context = json!({ "browserContextId": self.context });
        let _ = self
            .connection
            .call(None, "Target.disposeBrowserContext", context)
            .await;
    }

    /// Records events until `done` holds, for at most `wait`. Returns
    /// whether it held.
    pub async fn wait_until(&mut self, wait: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(&self.seen) {
            match timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => self.seen.note(&event),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    /// The text of the elements that match a CSS selector, in order.
    pub async fn texts(&self, selector: &str) -> anyhow::Result<Vec<String>> {
        let script = format!(
            "Array.from(document.querySelectorAll({}), element => element.textContent)",
            Value::from(selector)
        );
        let value = self.evaluate(&script).await?;
        let texts = value
            .as_array()
            .with_context(|| format!("{script} gave {value}, not a list"))?;
        Ok(texts
            .iter()
            .map(|text| text.as_str().unwrap_or_default().to_string())
            .collect())
    }

    /// Runs a script in the page and returns its value.
    pub async fn evaluate(&self, script: &str) -> anyhow::Result<Value> {
        let result = self
            .connection
            .call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({ "expression": script, "returnByValue": true }),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("the page could not run {script}: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Types `text` into the element that `selector` names, as a person
    /// does: the element gets the focus, then the keyboard sends the text.
    pub async fn type_into(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        let focus = format!(
            "(() => {{ const element = document.querySelector({}); \
             if (!element) return false; element.focus(); return true; }})()",
            Value::from(selector)
        );
        if self.evaluate(&focus).await? != Value::Bool(true) {
            bail!("the page has no element {selector}");
        }
        self.connection
            .call(
                Some(&self.session),
                "Input.insertText",
                json!({ "text": text }),
            )
            .await?;
        Ok(())
    }

    /// Presses and releases Enter on the focused element.
    pub async fn press_enter(&self) -> anyhow::Result<()> {
        for kind in ["keyDown", "keyUp"] {
            let mut key = json!({
                "type": kind,
                "key": "Enter",
                "code": "Enter",
                "windowsVirtualKeyCode": 13,
            });
            if kind == "keyDown" {
                key["text"] = "\r".into();
            }
            self.connection
                .call(Some(&self.session), "Input.dispatchKeyEvent", key)
                .await?;
        }
        Ok(())
    }

    /// Clicks the element that `selector` names, as a mouse click would.
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        let click = format!(
            "(() => {{ const element = document.querySelector({}); \
             if (!element) return false; element.click(); return true; }})()",
            Value::from(selector)
        );
        if self.evaluate(&click).await? != Value::Bool(true) {
            bail!("the page has no element {selector}");
        }
        Ok(())
    }
}
