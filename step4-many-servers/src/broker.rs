//! The connection to Redis, the broker every instance shares: the chat's
//! log and the logins live there, not in any one server's memory, so any
//! instance can serve any page and one can stop without losing them.

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

/// Where Redis listens unless `REDIS_URL` says otherwise.
const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// How to get a Redis running, for the one line we print when none answers.
const HOW_TO_START: &str = "start one with `redis-server` \
    (Debian/Ubuntu: `sudo apt-get install -y redis-server`; macOS: `brew install redis`; \
    Windows: in WSL, or `docker run -p 6379:6379 redis`), or set REDIS_URL";

/// Redis, as `REDIS_URL` names it.
#[derive(Clone)]
pub struct Broker {
    pub url: String,
    client: redis::Client,
    /// One connection that every task of this instance shares: redis
    /// sends their commands in turn and matches each answer to its caller.
    /// When Redis restarts, the command in flight fails and the manager
    /// connects again, so the instance serves again once Redis is back.
    pub shared: ConnectionManager,
}

impl Broker {
    /// Connects to `REDIS_URL`, or says in one line what to start.
    pub async fn connect() -> anyhow::Result<Broker> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
        let client = redis::Client::open(url.as_str()).with_context(|| {
            format!("REDIS_URL={url} is not a Redis address such as {DEFAULT_URL}")
        })?;
        // One try at start: a learner who forgot Redis hears so at once.
        let config = ConnectionManagerConfig::new().set_number_of_retries(1);
        let shared = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|error| {
                anyhow::anyhow!("no Redis answers at {url} ({error}): {HOW_TO_START}")
            })?;
        Ok(Broker {
            url,
            client,
            shared,
        })
    }

    /// A connection of its own, for a command that waits (`XREAD BLOCK`):
    /// on the shared one it would hold up every other command meanwhile.
    pub async fn own_connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        self.client.get_multiplexed_async_connection().await
    }
}
