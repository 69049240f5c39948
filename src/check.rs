//! The connection check `check` and `discover` start with: log in, ask
//! who we are and the server's version, list the configured questions, log
//! out.

use crate::api::client::{self, Client};
use crate::api::transport::{Transport, WasiTransport};
use crate::{config, error, questions};
use crate::{log, LogLevel};

/// Logs in, asks who we are, logs out: the cheapest proof that the URL and
/// credentials work.
pub fn connect(config: &str) -> error::Result<Vec<questions::Question>> {
    let config = config::Config::parse(config)?;
    let base = config.base.display();
    let mut client = Client::new(WasiTransport, config, log);
    let who = whoami(&mut client);
    let version = if who.is_ok() { client.log_version() } else { Ok(()) };
    let listed = if who.is_ok() && version.is_ok() { questions::list(&mut client) } else { Ok(Vec::new()) };
    let listed = listed.map(|l| questions::export::as_served(l, client.server()));
    client.logout();
    let who = who?;
    version?;
    let listed = listed?;
    log(LogLevel::Info, &format!("connected to {base} as {who}"));
    Ok(listed)
}

fn whoami<T: Transport>(client: &mut Client<T>) -> error::Result<String> {
    let response = client.get("user/current", &[])?;
    let text = client::read_limited(response.body, 1 << 20).map_err(|e| {
        error::Error::transient(format!("GET /api/user/current: reading the body failed ({e})")).with_cause(error::Cause::of_io(&e))
    })?;
    #[derive(serde::Deserialize)]
    struct User {
        email: Option<String>,
        is_superuser: Option<bool>,
    }
    let user: User = serde_json::from_str(&text).map_err(|_| {
        error::Error::config(format!(
            "GET /api/user/current did not answer with a user ({}). Check that `instance_api_url` points at Metabase's API.",
            client::message_from_body(&text)
        ))
        .with_cause(error::Cause::NotApi)
    })?;
    let admin = if user.is_superuser == Some(true) { "an admin" } else { "not an admin: admin-only streams (users, permission groups and memberships) will be reported unavailable" };
    Ok(format!("{} ({admin})", user.email.unwrap_or_else(|| "an unnamed user".into())))
}
