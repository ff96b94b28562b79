//! Faults, on a real server on a bound port and the real Postgres: the database going away and
//! coming back, a slow database, shutdown signals. Whatever happens, no 2xx without a commit.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use clerk_sync_test_support::*;

async fn ledger_has(db: &PgPool, svix_ids: &[String]) -> i64 {
    sqlx::query_scalar("select count(*) from clerk.webhook_events where svix_id = any($1)")
        .bind(svix_ids)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_database_outage_mid_stream_is_503_and_the_service_recovers_by_itself(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let upstream = postgres_addr(&db).await;
    let proxy = Proxy::start(upstream).await;
    let through_proxy = db.clone().host("127.0.0.1").port(proxy.addr.port());
    let settings = settings_without_patience(SECRET);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(through_proxy);
    let server = Served::start(clerk_sync::rocket(pool, settings)).await;
    let direct = PgPool::connect_with(db).await.unwrap();

    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    let deliver = |n: usize| {
        let svix_id = new_svix_id();
        let body = user_event("user.created", &format!("user_{n}"), 1, "Doe");
        async move { (post_signed(server.port, &svix_id, &body).await, svix_id) }
    };
    for n in 0..30 {
        let (answer, svix_id) = deliver(n).await;
        assert_eq!(answer.map(|a| a.0), Some(200));
        acknowledged.push(svix_id);
    }

    proxy.cut();
    for n in 30..40 {
        let (answer, svix_id) = deliver(n).await;
        match answer.map(|a| a.0) {
            Some(200) => acknowledged.push(svix_id),
            Some(503) => refused += 1,
            other => panic!("during the outage: {other:?}"),
        }
    }
    assert_eq!(refused, 10, "every delivery during the outage is refused");
    let health = http(server.port, "GET", "/healthz", &[], b"")
        .await
        .unwrap();
    assert_eq!(health.0, 503);

    let _back = Proxy::start_on(proxy.addr, upstream).await;
    let started = Instant::now();
    let mut recovered = false;
    for n in 40..200 {
        let (answer, svix_id) = deliver(n).await;
        if answer.map(|a| a.0) == Some(200) {
            acknowledged.push(svix_id);
            recovered = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery");
    }
    assert!(recovered, "the service did not recover without a restart");
    for n in 200..210 {
        let (answer, svix_id) = deliver(n).await;
        assert_eq!(answer.map(|a| a.0), Some(200));
        acknowledged.push(svix_id);
    }
    assert_eq!(
        ledger_has(&direct, &acknowledged).await,
        acknowledged.len() as i64,
        "a 2xx without a commit"
    );
    server.shutdown.notify();
}

#[sqlx::test(migrations = false)]
async fn a_slow_database_is_503_well_inside_svixs_15_second_budget(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.database.statement_timeout = Duration::from_millis(500);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let server = Served::start(clerk_sync::rocket(pool, settings)).await;
    let direct = PgPool::connect_with(db).await.unwrap();

    // Another transaction holds the users table: our upsert waits past its statement timeout.
    let blocker = hold_users_table(&direct).await;
    let svix_id = new_svix_id();
    let started = Instant::now();
    let answer = post_signed(
        server.port,
        &svix_id,
        &user_event("user.created", "user_1", 1, "Doe"),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(answer.0, 503, "{answer:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    blocker.rollback().await.unwrap();
    assert_eq!(
        ledger_has(&direct, std::slice::from_ref(&svix_id)).await,
        0,
        "nothing half-written"
    );

    // The retry Svix will send goes through once the database is quick again.
    let answer = post_signed(
        server.port,
        &svix_id,
        &user_event("user.created", "user_1", 1, "Doe"),
    )
    .await
    .unwrap();
    assert_eq!(answer.0, 200);
    server.shutdown.notify();
}
