//! The database going away: 503 so Svix retries, nothing half-written; `/healthz` (readiness)
//! follows the database, `/livez` (liveness) does not; a missing database created for a local run.

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use clerk_sync_test_support::*;

#[sqlx::test(migrations = false)]
async fn healthz_is_200_when_the_database_answers(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let health = expect_status(app.client.get("/healthz").dispatch().await, 200).await;
    assert_eq!(health["status"], "ok");
}

#[sqlx::test(migrations = false)]
async fn livez_is_200_when_every_writer_runs(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let live = expect_status(app.client.get("/livez").dispatch().await, 200).await;
    assert_eq!(live["status"], "ok");
}

#[sqlx::test(migrations = false)]
async fn database_down_is_503_and_nothing_is_stored(_: PgPoolOptions, db: PgConnectOptions) {
    let proxy = Proxy::start(postgres_addr(&db).await).await;
    let through_proxy = db.clone().host("127.0.0.1").port(proxy.addr.port());
    let mut app = TestApp::with_settings(through_proxy, settings_without_patience(SECRET)).await;
    // A direct pool for the assertions, which must not go through the proxy.
    app.db = sqlx::PgPool::connect_with(db).await.unwrap();
    expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "Doe"))
            .await,
        200,
    )
    .await;

    proxy.cut();
    let error = expect_status(
        app.deliver(&user_event("user.created", "user_2", 1, "Doe"))
            .await,
        503,
    )
    .await;
    assert_eq!(error["error"], "database_unavailable");
    assert!(
        !error.to_string().contains("127.0.0.1"),
        "no internals in {error}"
    );
    let health = expect_status(app.client.get("/healthz").dispatch().await, 503).await;
    assert_eq!(health["status"], "unavailable");
    // Liveness never asks the database: a restart would not bring it back.
    let live = expect_status(app.client.get("/livez").dispatch().await, 200).await;
    assert_eq!(live["status"], "ok");

    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(app.user_rows().await, 1);
}

/// What the Shuttle entry point does on a local run: `shuttle run` on a fresh machine names a
/// database that does not exist yet.
#[sqlx::test(migrations = false)]
async fn a_missing_database_is_created_once_and_an_existing_one_is_left_alone(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let existing = database_url(&db).await;
    // A name of this test's own, and short: Postgres truncates names to 63 bytes and sqlx's are
    // 63 already, so `<test database>_created` would name (and drop) the test's database itself.
    let test_database = db.get_database().unwrap();
    let name = format!("created_{}", &test_database[test_database.len() - 24..]);
    let missing = existing.replace(test_database, &name);
    // Left over if an earlier run of this test failed half-way.
    sqlx::Postgres::drop_database(&missing).await.unwrap();
    assert!(!clerk_sync::db::create_database_if_missing(&existing)
        .await
        .unwrap());

    assert!(clerk_sync::db::create_database_if_missing(&missing)
        .await
        .unwrap());
    let created = PgConnection::connect(&missing)
        .await
        .expect("the new database");
    created.close().await.unwrap();
    assert!(!clerk_sync::db::create_database_if_missing(&missing)
        .await
        .unwrap());

    sqlx::Postgres::drop_database(&missing).await.unwrap();
}
