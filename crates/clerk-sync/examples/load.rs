//! A load tool to size a deployment: pre-signs realistic Clerk deliveries, drives a webhook URL
//! with C keep-alive connections for T seconds, prints events/s, latency percentiles and non-2xx
//! counts, then checks in Postgres that every acknowledged svix-id has exactly one ledger row.
//!
//! ```sh
//! cargo run --release --example load -- \
//!     --url http://127.0.0.1:8000/webhooks/clerk --secret whsec_... \
//!     --connections 16 --seconds 20 [--events 200000] [--database-url postgres://...] [--pid 1234] \
//!     [--svix-ids ordered|random]
//! ```
//!
//! The mix is the shared yardstick's (`gen.py` of `../shared/bench`): 60% `user.created` for new
//! users, 35% `user.updated` of recent users with a newer `updated_at`, 5% exact re-sends of a
//! recent delivery (a Svix retry); bodies of 1.8–3.3 KB, event times from now on. Signatures are made at
//! start and expire after 5 minutes, so keep `--seconds` well under that. With `--pid`, the
//! server's CPU time per event and peak RSS are read from `/proc`.

// `json!` of a whole Clerk user nests deeper than the default limit.
#![recursion_limit = "256"]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clerk_sync::svix::{sign, unix_seconds, SigningKey};
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::TcpStream;

struct Args {
    url: String,
    secret: String,
    connections: usize,
    seconds: u64,
    events: usize,
    database_url: Option<String>,
    pid: Option<u32>,
    /// Svix-ids in random order rather than in order of sending (Svix's are KSUIDs, ordered by
    /// time): the worst case for an index on them.
    random_ids: bool,
}

fn args() -> Args {
    let mut map = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(key) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{key} needs a value"));
        map.insert(key.trim_start_matches("--").to_owned(), value);
    }
    let get = |k: &str| map.get(k).cloned();
    Args {
        url: get("url").unwrap_or_else(|| "http://127.0.0.1:8000/webhooks/clerk".into()),
        secret: get("secret")
            .or_else(|| std::env::var("CLERK_WEBHOOK_SIGNING_SECRET").ok())
            .expect("--secret or CLERK_WEBHOOK_SIGNING_SECRET"),
        connections: get("connections").map_or(16, |v| v.parse().unwrap()),
        seconds: get("seconds").map_or(20, |v| v.parse().unwrap()),
        events: get("events").map_or(200_000, |v| v.parse().unwrap()),
        database_url: get("database-url").or_else(|| std::env::var("DATABASE_URL").ok()),
        pid: get("pid").map(|v| v.parse().unwrap()),
        random_ids: match get("svix-ids").as_deref() {
            None | Some("ordered") => false,
            Some("random") => true,
            Some(other) => panic!("--svix-ids is ordered or random, not {other}"),
        },
    }
}

/// One pre-signed HTTP request and what it is.
struct Delivery {
    svix_id: String,
    request: Vec<u8>,
}

/// A tiny deterministic generator, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A `user.*` delivery of 1.8–3.3 KB shaped like Clerk's, as the shared yardstick's `gen.py`
/// writes them: half the users signed up with Google (an external account), half with email.
fn user_body(event_type: &str, id: &str, created_at: u64, updated_at: u64, n: u64) -> String {
    let google = n.is_multiple_of(2);
    let external_accounts: Vec<serde_json::Value> = google
        .then(|| serde_json::json!({
            "object": "google_account", "id": format!("idn_g{id}"), "provider": "oauth_google",
            "approved_scopes": "email https://www.googleapis.com/auth/userinfo.email \
                                https://www.googleapis.com/auth/userinfo.profile openid profile",
            "email_address": format!("load.tester.{n}@example.com"), "given_name": "Load",
            "family_name": format!("Tester {n}"), "first_name": "Load", "last_name": format!("Tester {n}"),
            "google_id": format!("1{n:020}"), "provider_user_id": format!("1{n:020}"),
            "avatar_url": format!("https://lh3.googleusercontent.com/a/ACg8ocL{n:040}=s1000-c"),
            "image_url": format!("https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJ{n:060}"),
            "picture": format!("https://lh3.googleusercontent.com/a/ACg8ocL{n:040}"),
            "identification_id": format!("idn_g{id}"), "label": null, "public_metadata": {},
            "created_at": created_at, "updated_at": updated_at, "username": "", "phone_number": "",
            "verification": { "status": "verified", "strategy": "oauth_google", "attempts": null,
                              "expire_at": updated_at + 600_000 },
        }))
        .into_iter()
        .collect();
    serde_json::json!({
        "object": "event", "type": event_type, "timestamp": updated_at, "instance_id": "ins_load",
        "event_attributes": { "http_request": { "client_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (load)" } },
        "data": {
            "object": "user", "id": id, "external_id": null,
            "primary_email_address_id": format!("idn_{id}_0"), "primary_phone_number_id": null,
            "primary_web3_wallet_id": null, "username": null, "first_name": "Load",
            "last_name": format!("Tester {n}"),
            "image_url": format!("https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJ{n:060}"),
            "profile_image_url": "", "has_image": true,
            "public_metadata": { "plan": "pro", "seats": n % 50, "onboarded": event_type == "user.updated" },
            "private_metadata": {}, "unsafe_metadata": {},
            "email_addresses": [{
                "id": format!("idn_{id}_0"), "object": "email_address",
                "email_address": format!("load.tester.{n}@example.com"),
                "verification": { "status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": null },
                "linked_to": [], "reserved": false, "matches_sso_connection": false,
                "created_at": created_at, "updated_at": updated_at,
            }],
            "phone_numbers": [], "web3_wallets": [], "passkeys": [], "external_accounts": external_accounts,
            "saml_accounts": [], "enterprise_accounts": [],
            "password_enabled": !google, "two_factor_enabled": false, "totp_enabled": false,
            "backup_code_enabled": false, "banned": false, "locked": false,
            "lockout_expires_in_seconds": null, "verification_attempts_remaining": 100,
            "mfa_enabled_at": null, "mfa_disabled_at": null, "legal_accepted_at": null,
            "create_organizations_limit": null,
            "last_sign_in_at": updated_at, "last_active_at": updated_at,
            "created_at": created_at, "updated_at": updated_at,
            "delete_self_enabled": true, "create_organization_enabled": true,
        }
    })
    .to_string()
}

fn presign(args: &Args, run: u64) -> Vec<Delivery> {
    let key =
        SigningKey::parse(args.secret.split_whitespace().next().unwrap()).expect("a valid secret");
    let (host, path) = split_url(&args.url);
    let timestamp = unix_seconds(SystemTime::now()).to_string();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ run);
    let mut ids = Rng(0x9e37_79b9_7f4a_7c15 ^ run);
    // The yardstick's mix (`gen.py`): 5% exact re-sends of one of the last 500 deliveries, 35%
    // updates of one of the last 2 000 users created, 60% new users; event times from now on,
    // strictly increasing, as Clerk's are for live traffic.
    let now = unix_seconds(SystemTime::now()) * 1000;
    let mut users: Vec<(String, u64)> = Vec::new();
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(args.events);
    for n in 0..args.events as u64 {
        let roll = rng.next() % 100;
        if roll < 5 && !deliveries.is_empty() {
            let recent = deliveries.len().min(500) as u64;
            let again = &deliveries[deliveries.len() - 1 - (rng.next() % recent) as usize];
            let copy = Delivery {
                svix_id: again.svix_id.clone(),
                request: again.request.clone(),
            };
            deliveries.push(copy);
            continue;
        }
        let body = if roll < 40 && !users.is_empty() {
            let recent = users.len().min(2000) as u64;
            let i = users.len() - 1 - (rng.next() % recent) as usize;
            user_body("user.updated", &users[i].0, users[i].1, now + n, n)
        } else {
            let id = format!("user_load{run}x{n}");
            users.push((id.clone(), now + n));
            user_body("user.created", &id, now + n, now + n, n)
        };
        let svix_id = if args.random_ids {
            format!("msg_{:016x}{:016x}", ids.next(), ids.next())
        } else {
            format!("msg_load{run}x{n}")
        };
        let signature = sign(&key, &svix_id, &timestamp, body.as_bytes());
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             svix-id: {svix_id}\r\nsvix-timestamp: {timestamp}\r\nsvix-signature: {signature}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body.as_bytes());
        deliveries.push(Delivery { svix_id, request });
    }
    deliveries
}

fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.to_owned(), format!("/{path}"))
}

/// Reads one HTTP/1.1 response with a content-length; returns its status.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Some(status);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[derive(Default)]
struct ConnectionResult {
    latencies_us: Vec<u32>,
    acknowledged: Vec<String>,
    non_2xx: HashMap<u16, usize>,
    errors: usize,
}

async fn drive(
    host: String,
    deliveries: Arc<Vec<Delivery>>,
    next: Arc<AtomicUsize>,
    until: Instant,
) -> ConnectionResult {
    let mut result = ConnectionResult::default();
    let mut stream = None;
    let mut buf = Vec::new();
    while Instant::now() < until {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(delivery) = deliveries.get(i) else {
            break;
        };
        if stream.is_none() {
            stream = TcpStream::connect(&host).await.ok();
            buf.clear();
        }
        let Some(conn) = stream.as_mut() else {
            result.errors += 1;
            continue;
        };
        let started = Instant::now();
        let status = match conn.write_all(&delivery.request).await {
            Ok(()) => read_response(conn, &mut buf).await,
            Err(_) => None,
        };
        match status {
            Some(status) => {
                result
                    .latencies_us
                    .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if (200..300).contains(&status) {
                    result.acknowledged.push(delivery.svix_id.clone());
                } else {
                    *result.non_2xx.entry(status).or_default() += 1;
                }
            }
            None => {
                result.errors += 1;
                stream = None;
            }
        }
    }
    result
}

/// (utime + stime in clock ticks, VmHWM in kB) of a process.
fn process_stats(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks, hwm))
}

#[rocket::main]
async fn main() {
    let args = args();
    let run = unix_seconds(SystemTime::now());
    let started = Instant::now();
    let deliveries = Arc::new(presign(&args, run));
    eprintln!(
        "pre-signed {} deliveries in {:.1}s",
        deliveries.len(),
        started.elapsed().as_secs_f64()
    );

    let (host, _) = split_url(&args.url);
    let before = args.pid.and_then(process_stats);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| rocket::tokio::spawn(drive(host.clone(), deliveries.clone(), next.clone(), until)))
        .collect();
    let mut total = ConnectionResult::default();
    for task in tasks {
        let r = task.await.unwrap();
        total.latencies_us.extend(r.latencies_us);
        total.acknowledged.extend(r.acknowledged);
        total.errors += r.errors;
        for (status, n) in r.non_2xx {
            *total.non_2xx.entry(status).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = args.pid.and_then(process_stats);

    total.latencies_us.sort_unstable();
    let pct = |p: f64| {
        total
            .latencies_us
            .get(((total.latencies_us.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let answered = total.latencies_us.len();
    println!("url            {}", args.url);
    println!("connections    {}", args.connections);
    println!("duration       {elapsed:.1} s");
    println!("events/s       {:.0}", answered as f64 / elapsed);
    println!("latency p50    {:.2} ms", pct(0.50));
    println!("latency p99    {:.2} ms", pct(0.99));
    println!("2xx            {}", total.acknowledged.len());
    println!("non-2xx        {:?}", total.non_2xx);
    println!("socket errors  {}", total.errors);
    if next.load(Ordering::Relaxed) >= deliveries.len() {
        println!("note           ran out of pre-signed deliveries: raise --events");
    }
    if let (Some((t0, _)), Some((t1, hwm))) = (before, after) {
        let ticks_per_second = 100.0; // USER_HZ on Linux
        let cpu_ms = (t1 - t0) as f64 / ticks_per_second * 1000.0;
        println!(
            "server CPU     {:.3} ms/event ({cpu_ms:.0} ms total)",
            cpu_ms / answered.max(1) as f64
        );
        println!("server peak RSS {:.1} MB", hwm as f64 / 1024.0);
    }

    if let Some(url) = &args.database_url {
        rocket::tokio::time::sleep(Duration::from_millis(500)).await;
        let pool = sqlx::PgPool::connect(url).await.expect("the database");
        let mut unique: Vec<&String> = total.acknowledged.iter().collect();
        unique.sort();
        unique.dedup();
        let ids: Vec<&str> = unique.iter().map(|s| s.as_str()).collect();
        let stored: i64 =
            sqlx::query_scalar("select count(*) from clerk.webhook_events where svix_id = any($1)")
                .bind(&ids)
                .fetch_one(&pool)
                .await
                .unwrap();
        let rows_per_id: i64 = sqlx::query_scalar(
            "select coalesce(max(n), 0) from (select count(*) as n from clerk.webhook_events where svix_id = any($1) group by svix_id) s",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await
        .unwrap();
        let lost = ids.len() as i64 - stored;
        println!("acknowledged   {} distinct svix-ids", ids.len());
        println!("lost           {lost}");
        println!(
            "duplicated     {}",
            if rows_per_id > 1 { "yes" } else { "0" }
        );
        if lost != 0 || rows_per_id > 1 {
            std::process::exit(1);
        }
    }
}
