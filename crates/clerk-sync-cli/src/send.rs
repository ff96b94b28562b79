//! `clerk-sync send`: signed deliveries to an endpoint, without a tunnel or the Clerk dashboard.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use clerk_sync::svix::{self, SigningKey};
use clerk_sync::{config, fixtures};

use crate::{Done, Usage};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Event types (`user.created`) or JSON files to send, in order.
    #[arg(value_name = "EVENT", required_unless_present_any = ["all", "list"])]
    events: Vec<String>,
    /// Send the example of every event type.
    #[arg(long, conflicts_with = "events")]
    all: bool,
    /// List the event types that have an example, and send nothing.
    #[arg(long)]
    list: bool,
    /// The webhook endpoint [default: http://127.0.0.1:$ROCKET_PORT$CLERK_WEBHOOK_PATH].
    #[arg(long, env = "CLERK_SYNC_URL")]
    url: Option<String>,
    /// The endpoint's signing secret (the first one, during a rotation).
    #[arg(long, env = "CLERK_WEBHOOK_SIGNING_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Use this svix-id instead of a fresh one (send the same id twice to see a duplicate).
    #[arg(long)]
    svix_id: Option<String>,
    /// Use this svix-timestamp (Unix seconds) instead of now (an old one is refused: 401).
    #[arg(long)]
    timestamp: Option<u64>,
}

pub async fn run(args: SendArgs) -> anyhow::Result<Done> {
    if args.list {
        for (event_type, _) in fixtures::all() {
            say!("{event_type:<36} fixtures/clerk/{event_type}.json");
        }
        return Ok(Done::Ok);
    }
    let secret = args
        .secret
        .as_deref()
        .and_then(|s| s.split_whitespace().next())
        .ok_or_else(|| {
            Usage("CLERK_WEBHOOK_SIGNING_SECRET is not set (or pass --secret)".into())
        })?;
    let key = SigningKey::parse(secret)
        .map_err(|err| Usage(format!("CLERK_WEBHOOK_SIGNING_SECRET is invalid: {err}")))?;
    let url = args.url.clone().unwrap_or_else(default_url);
    let bodies: Vec<(String, String)> = if args.all {
        fixtures::all()
            .map(|(event_type, json)| (event_type.to_owned(), json.to_owned()))
            .collect()
    } else {
        args.events
            .iter()
            .map(|e| load(e))
            .collect::<Result<_, _>>()?
    };

    let http = reqwest::Client::new();
    let mut refused = 0;
    for (label, body) in &bodies {
        let svix_id = args.svix_id.clone().unwrap_or_else(fresh_svix_id);
        let timestamp = args
            .timestamp
            .unwrap_or_else(|| svix::unix_seconds(SystemTime::now()))
            .to_string();
        let signature = svix::sign(&key, &svix_id, &timestamp, body.as_bytes());
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .header("svix-id", &svix_id)
            .header("svix-timestamp", &timestamp)
            .header("svix-signature", signature)
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("could not POST to {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        say!("{label} {svix_id} -> {status} {}", text.trim());
        if !status.is_success() {
            refused += 1;
        }
    }
    Ok(if refused > 0 {
        Done::WithRefusals
    } else {
        Done::Ok
    })
}

/// The local server's address, from the variables `serve` reads.
fn default_url() -> String {
    let port = std::env::var("ROCKET_PORT").unwrap_or_else(|_| "8000".to_owned());
    let path = std::env::var(config::WEBHOOK_PATH_VAR)
        .unwrap_or_else(|_| config::DEFAULT_WEBHOOK_PATH.to_owned());
    format!("http://127.0.0.1:{port}{path}")
}

fn event_type_of(json: &str) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        event_type: String,
    }
    Ok(serde_json::from_str::<Typed>(json)
        .context("not a Clerk event (no \"type\")")?
        .event_type)
}

/// An event type with an example, or a JSON file.
fn load(event: &str) -> anyhow::Result<(String, String)> {
    if let Some(json) = fixtures::example(event) {
        return Ok((event.to_owned(), json.to_owned()));
    }
    let path = Path::new(event);
    if path.exists() || event.ends_with(".json") {
        let body = std::fs::read_to_string(path)
            .map_err(|err| Usage(format!("cannot read {event}: {err}")))?;
        let label = event_type_of(&body)
            .map_err(|_| Usage(format!("{event} is not a Clerk event (no \"type\")")))?;
        return Ok((label, body));
    }
    Err(Usage(format!(
        "{event:?} is neither an event type with an example (see `clerk-sync send --list`) nor a file"
    ))
    .into())
}

/// A svix-id no earlier send used: the time in nanoseconds and a counter.
fn fresh_svix_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "msg_cli{nanos:x}{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
