//! The standalone binary, as an operator runs it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

fn standalone() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_standalone"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn startup_error(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_missing_database_url_is_a_one_line_startup_error() {
    let stderr = startup_error(standalone().env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET));
    assert_eq!(stderr, "error: DATABASE_URL is not set\n");
}

#[test]
fn a_missing_signing_secret_is_a_one_line_startup_error() {
    let stderr = startup_error(standalone().env("DATABASE_URL", "postgres://localhost/x"));
    assert_eq!(stderr, "error: CLERK_WEBHOOK_SIGNING_SECRET is not set\n");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request over a plain socket; returns the status code and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
    ))
}

#[sqlx::test(migrations = false)]
async fn standalone_stores_a_signed_user_created_on_a_bound_port(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        db.get_username(),
        postgres_addr(&db).await.ip(),
        db.get_port(),
        db.get_database().unwrap()
    );
    let _server = Server(
        standalone()
            .env("DATABASE_URL", url)
            .env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while http(port, "GET", "/healthz", &[], "").map(|(status, _)| status) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not come up"
        );
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let body = fixture("user.created.json");
    let mut headers = signed_headers(SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    headers.push(("content-type", "application/json".to_owned()));
    let (status, ack) = http(port, "POST", "/webhooks/clerk", &headers, &body).unwrap();
    assert_eq!(status, 200, "{ack}");

    let pool = sqlx::PgPool::connect_with(db).await.unwrap();
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from clerk.users where id = 'user_2g7np7Hrk0SN6kj5EDMLDaKNL0S'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
}

#[test]
fn an_unreachable_database_stops_the_start_with_its_reason() {
    let output = standalone()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/clerk")
        .env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("Connection refused"), "{printed}");
    assert!(printed.contains("error: could not start"), "{printed}");
}
