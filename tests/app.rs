//! The app's tests: its server as an operator starts it, and the app itself (the sync, the table
//! its hook fills, its route) against a fresh database per test, with deliveries signed as Svix
//! signs them. Add yours here. (The library's and the tool's own suites are in `crates/`.)

use std::process::Command;
use std::time::SystemTime;

use clerk_sync::config::Settings;
use clerk_sync::svix::{self, SigningKey, Verifier};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The endpoint's signing secret in these tests (a test value, as in `.env.example`).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Clerk's published `user.created` example: John Doe, `user_2g7np7Hrk0SN6kj5EDMLDaKNL0S`.
const USER_ID: &str = "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S";

/// The app over a fresh test database, as Rocket's local client sees it.
async fn app(db: PgConnectOptions) -> (Client, sqlx::PgPool) {
    let settings = Settings::new(Verifier::from_secrets(SECRET).unwrap());
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db);
    let client = Client::tracked(app::app(pool.clone(), settings))
        .await
        .unwrap();
    (client, pool)
}

/// POSTs `body` to the webhook route, signed now with [`SECRET`] as Svix signs a delivery.
async fn deliver(client: &Client, svix_id: &str, body: &str) -> Status {
    let timestamp = svix::unix_seconds(SystemTime::now()).to_string();
    let key = SigningKey::parse(SECRET).unwrap();
    let signature = svix::sign(&key, svix_id, &timestamp, body.as_bytes());
    client
        .post("/webhooks/clerk")
        .header(ContentType::JSON)
        .header(Header::new("svix-id", svix_id.to_owned()))
        .header(Header::new("svix-timestamp", timestamp))
        .header(Header::new("svix-signature", signature))
        .body(body)
        .dispatch()
        .await
        .status()
}

#[sqlx::test(migrations = false)]
async fn a_new_user_gets_a_profile_in_the_same_transaction_and_the_route_serves_it(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let (client, pool) = app(db).await;
    let user_created = clerk_sync::fixtures::example("user.created").unwrap();
    assert_eq!(
        deliver(&client, "msg_app_1", user_created).await,
        Status::Ok
    );
    // A Svix retry of the same delivery changes nothing.
    assert_eq!(
        deliver(&client, "msg_app_1", user_created).await,
        Status::Ok
    );

    let (users, profiles): (i64, i64) = sqlx::query_as(
        "select (select count(*) from clerk.users where id = $1),
                (select count(*) from profiles where user_id = $1)",
    )
    .bind(USER_ID)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((users, profiles), (1, 1));

    let response = client.get(format!("/profiles/{USER_ID}")).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let profile: serde_json::Value = response.into_json().await.unwrap();
    assert_eq!(profile["plan"], "free");
    assert_eq!(profile["first_name"], "John");
    let response = client.get("/profiles/user_nobody").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
}

#[sqlx::test(migrations = false)]
async fn a_delivery_with_a_wrong_signature_stores_nothing(_: PgPoolOptions, db: PgConnectOptions) {
    let (client, pool) = app(db).await;
    let forged = clerk_sync::fixtures::example("user.created")
        .unwrap()
        .replace("John", "Mallory");
    let response = client
        .post("/webhooks/clerk")
        .header(ContentType::JSON)
        .header(Header::new("svix-id", "msg_forged"))
        .header(Header::new(
            "svix-timestamp",
            svix::unix_seconds(SystemTime::now()).to_string(),
        ))
        .header(Header::new("svix-signature", "v1,bm90IGEgc2lnbmF0dXJl"))
        .body(forged)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let profiles: i64 = sqlx::query_scalar("select count(*) from profiles")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(profiles, 0);
}

/// The server binary, with a clean environment: what an operator who forgot a variable sees.
fn server() -> Command {
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
    let stderr = startup_error(server().env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET));
    assert_eq!(stderr, "error: DATABASE_URL is not set\n");
}

#[test]
fn a_missing_signing_secret_is_a_one_line_startup_error() {
    let stderr = startup_error(server().env("DATABASE_URL", "postgres://localhost/x"));
    assert_eq!(stderr, "error: CLERK_WEBHOOK_SIGNING_SECRET is not set\n");
}

#[test]
fn an_unknown_log_format_is_a_one_line_startup_error() {
    let stderr = startup_error(
        server()
            .env("DATABASE_URL", "postgres://localhost/x")
            .env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
            .env("CLERK_SYNC_LOG_FORMAT", "yaml"),
    );
    assert_eq!(
        stderr,
        "error: CLERK_SYNC_LOG_FORMAT is invalid: expected text or json\n"
    );
}

#[test]
fn an_unreachable_database_stops_the_start_with_its_reason() {
    let output = server()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/clerk")
        .env("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("Connection refused"), "{printed}");
    assert!(printed.contains("error: could not start"), "{printed}");
}
