//! Slow senders, over real connections to a bound port: what the headers alone can refuse is
//! refused before the body is waited for, a body that trickles is cut off at the body deadline
//! with 408, and connections held open that way do not stop real deliveries.
//!
//! Rocket 0.5 reads the first 14 bytes of every body before any application code runs (it looks
//! for a `_method` field of a form), without a deadline of its own; only then does the guard see
//! the request. The tests account for it rather than depend on it.

use std::time::Duration;

use clerk_sync::config::Settings;
use rocket::tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use rocket::tokio::net::TcpStream;
use rocket::tokio::task::JoinHandle;
use rocket::tokio::time::{sleep, timeout};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use clerk_sync_test_support::*;

/// Only a guard against a hang: every answer expected here comes well within it, however busy
/// the machine (and each body deadline it must tell apart is longer).
const HANG_GUARD: Duration = PATIENT;
/// How often a trickling sender sends its next byte.
const TRICKLE: Duration = Duration::from_millis(200);
/// More than the 14 bytes Rocket reads before routing: sent at once, they bring a request to the
/// guard.
const ROCKET_PEEK: usize = 16;

/// The app on a bound port with `body_timeout`, and a pool straight to its database.
async fn serve(db: PgConnectOptions, body_timeout: Duration) -> (Served, PgPool) {
    let mut settings: Settings = settings(SECRET);
    settings.body_timeout = body_timeout;
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let server = Served::start(clerk_sync::rocket(pool, settings)).await;
    let direct = PgPool::connect_with(db).await.expect("the test database");
    (server, direct)
}

/// Opens a connection and sends the head of a webhook POST: `headers`, a JSON content type and
/// a declared `content_length`, and not one byte of body.
async fn send_head(
    port: u16,
    headers: &[(&'static str, String)],
    content_length: usize,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut head = format!(
        "POST /webhooks/clerk HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {content_length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    (reader, writer)
}

/// Sends `body` a byte at a time, one every [`TRICKLE`]; stops when the server hangs up.
fn trickle(mut writer: OwnedWriteHalf, body: Vec<u8>) -> JoinHandle<()> {
    rocket::tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            sleep(TRICKLE).await;
        }
    })
}

/// Reads one response: its status and JSON body (by its `content-length`, so a connection the
/// server keeps open cannot make this wait). `None` if the connection closed first.
async fn read_response(mut reader: impl AsyncRead + Unpin) -> Option<(u16, Value)> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))?
                .trim()
                .parse()
                .ok()?;
            let body = &received[end + 4..];
            if body.len() >= length {
                let status = head.split(' ').nth(1)?.parse().ok()?;
                return Some((status, serde_json::from_slice(&body[..length]).ok()?));
            }
        }
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

async fn stored(db: &PgPool) -> (i64, i64) {
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(db)
            .await
            .unwrap()
    };
    (
        count("select count(*) from clerk.webhook_events").await,
        count("select count(*) from clerk.users").await,
    )
}

#[sqlx::test(migrations = false)]
async fn headers_that_cannot_pass_are_refused_without_waiting_for_the_body(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    // A body deadline far beyond the hang guard: an answer within the guard was not a 408.
    let (server, direct) = serve(db, Duration::from_secs(300)).await;
    let body = user_event("user.created", "user_1", 1, "Doe");
    let signed_at =
        |timestamp: u64| signed_headers(SECRET, &new_svix_id(), timestamp, body.as_bytes());
    let with_signature = |signature: &dyn Fn(&str) -> String| {
        let mut headers = signed_at(now_seconds());
        headers[2].1 = signature(&headers[2].1);
        headers
    };
    let now = now_seconds();
    let cases = [
        (
            "a timestamp ten minutes old",
            signed_at(now - 600),
            "timestamp_out_of_tolerance",
        ),
        (
            "a timestamp ten minutes ahead",
            signed_at(now + 600),
            "timestamp_out_of_tolerance",
        ),
        (
            "only a v2 signature",
            with_signature(&|valid| valid.replacen("v1,", "v2,", 1)),
            "invalid_signature",
        ),
        (
            "a truncated v1 signature",
            with_signature(&|valid| valid[..20].to_owned()),
            "invalid_signature",
        ),
        (
            "a v1 signature that is not base64",
            with_signature(&|_| format!("v1,{}", "!".repeat(44))),
            "invalid_signature",
        ),
        (
            "a bare v1, among other versions",
            with_signature(&|valid| format!("v1, {}", valid.replacen("v1,", "v2,", 1))),
            "invalid_signature",
        ),
    ];
    let mut failures = Vec::new();
    for (name, headers, code) in cases {
        // The head announces 100 000 bytes; only what Rocket reads before routing follows.
        let (reader, mut writer) = send_head(server.port, &headers, 100_000).await;
        writer
            .write_all(&body.as_bytes()[..ROCKET_PEEK])
            .await
            .unwrap();
        match timeout(HANG_GUARD, read_response(reader)).await {
            Ok(Some((401, error))) if error["error"] == code && error["message"].is_string() => {}
            Ok(answer) => failures.push(format!("{name}: got {answer:?}")),
            Err(_) => failures.push(format!("{name}: no answer while the body was withheld")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(stored(&direct).await, (0, 0));
    server.shutdown.notify();
}

#[sqlx::test(migrations = false)]
async fn a_signed_body_that_trickles_is_answered_408_once_the_body_deadline_passes(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let (server, direct) = serve(db, Duration::from_millis(1000)).await;
    let body = user_event("user.created", "user_1", 1, "Doe");
    let headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    let (reader, writer) = send_head(server.port, &headers, body.len()).await;
    // Minutes of trickling at a byte per 200 ms: the deadline passes long before the last byte.
    let sender = trickle(writer, body.into_bytes());
    // The deadline starts once Rocket has read its first 14 bytes, about 3 s in at this pace.
    let answer = timeout(HANG_GUARD * 3, read_response(reader)).await;
    sender.abort();
    let (status, error) = answer
        .expect("an answer once the body deadline passed")
        .expect("a response, not a closed connection");
    assert_eq!(status, 408, "{error}");
    assert_eq!(error["error"], "body_timeout");
    assert_eq!(
        error["message"], "the body did not arrive within 1000 ms",
        "{error}"
    );
    assert_eq!(stored(&direct).await, (0, 0));
    server.shutdown.notify();
}

#[sqlx::test(migrations = false)]
async fn dozens_of_trickling_connections_do_not_stop_real_deliveries(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    // Long enough that every trickling connection is still held open when the deliveries end.
    let (server, direct) = serve(db, Duration::from_secs(120)).await;
    let mut held = Vec::new();
    for n in 0..40 {
        let body = user_event("user.created", &format!("user_slow_{n}"), 1, "Doe");
        let headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
        let (reader, writer) = send_head(server.port, &headers, body.len()).await;
        held.push((reader, trickle(writer, body.into_bytes())));
    }

    let mut statuses = Vec::new();
    for n in 0..20 {
        let body = user_event("user.created", &format!("user_{n}"), 1, "Doe");
        let answer = timeout(HANG_GUARD, post_signed(server.port, &new_svix_id(), &body)).await;
        statuses.push(answer.ok().flatten().map(|(status, _)| status));
    }
    assert_eq!(statuses, vec![Some(200); 20]);
    assert_eq!(stored(&direct).await, (20, 20));

    // They really were held open all along: not one has been answered or hung up on.
    let mut answered = 0;
    for (reader, _) in &held {
        let mut byte = [0u8; 1];
        if !matches!(reader.try_read(&mut byte), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
        {
            answered += 1;
        }
    }
    assert_eq!(answered, 0, "trickling connections were answered early");
    for (_, sender) in held {
        sender.abort();
    }
    server.shutdown.notify();
}
