//! The app's server, as an operator runs it (`cargo run`): the sync, the app's own table filled
//! by its hook, and its own route. (The library's and the tool's behaviour have their own suites,
//! in `crates/`.)

use std::process::Command;

use clerk_sync_test_support::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn standalone() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
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

#[test]
fn an_unknown_log_format_is_a_one_line_startup_error() {
    let stderr = startup_error(
        standalone()
            .env("DATABASE_URL", "postgres://localhost/x")
            .env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
            .env("CLERK_SYNC_LOG_FORMAT", "yaml"),
    );
    assert_eq!(
        stderr,
        "error: CLERK_SYNC_LOG_FORMAT is invalid: expected text or json\n"
    );
}

#[sqlx::test(migrations = false)]
async fn a_signed_user_created_is_stored_with_its_profile_and_served_by_the_apps_route(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let url = database_url(&db).await;
    let mut server = Standalone::spawn(Command::new(env!("CARGO_BIN_EXE_server")), &url, None);
    server.ready().await;
    let (status, ack) = post_signed(server.port, &new_svix_id(), &fixture("user.created.json"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{ack}");

    let pool = sqlx::PgPool::connect_with(db).await.unwrap();
    let (user, profile): (i64, i64) = sqlx::query_as(
        "select (select count(*) from clerk.users where id = 'user_2g7np7Hrk0SN6kj5EDMLDaKNL0S'),
                (select count(*) from profiles where user_id = 'user_2g7np7Hrk0SN6kj5EDMLDaKNL0S')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((user, profile), (1, 1));

    let (status, body) = http(
        server.port,
        "GET",
        "/profiles/user_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let profile: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["plan"], "free");
    assert_eq!(profile["first_name"], "John");
    let (status, _) = http(server.port, "GET", "/profiles/user_nobody", &[], b"")
        .await
        .unwrap();
    assert_eq!(status, 404);
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
