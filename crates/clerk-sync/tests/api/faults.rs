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

async fn assert_every_2xx_committed(db: &PgPool, acknowledged: &[String]) {
    let stored = ledger_has(db, acknowledged).await;
    assert_eq!(stored, acknowledged.len() as i64, "a 2xx without a commit");
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
    assert_every_2xx_committed(&direct, &acknowledged).await;
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

/// Each writer keeps its connection between batches. Postgres closing them all (a restart, a
/// pooler's idle timeout) between two deliveries costs no delivery: the batch that meets a closed
/// one runs again on a fresh connection.
#[sqlx::test(migrations = false)]
async fn connections_postgres_closed_between_deliveries_cost_no_delivery(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app_name = "clerk-sync-kept";
    let settings = settings(SECRET);
    let pool = clerk_sync::db::pool_options(&settings.database)
        .connect_lazy_with(db.clone().application_name(app_name));
    let server = Served::start(clerk_sync::rocket(pool, settings)).await;
    let direct = PgPool::connect_with(db).await.unwrap();

    let mut acknowledged = Vec::new();
    let mut n = 0;
    for round in 0..3 {
        // Enough deliveries that every writer has taken a connection.
        for _ in 0..12 {
            let svix_id = new_svix_id();
            let body = user_event("user.created", &format!("user_{n}"), 1, "Doe");
            n += 1;
            let answer = post_signed(server.port, &svix_id, &body).await;
            assert_eq!(answer.map(|a| a.0), Some(200), "round {round}");
            acknowledged.push(svix_id);
        }
        // Materialized, so that only the service's own connections are ever terminated.
        let closed: i64 = sqlx::query_scalar(
            "with ours as materialized (
                 select pid from pg_stat_activity where application_name = $1)
             select count(*) filter (where pg_terminate_backend(pid)) from ours",
        )
        .bind(app_name)
        .fetch_one(&direct)
        .await
        .unwrap();
        assert!(closed >= 1, "round {round}: no connection to close");
    }
    assert_every_2xx_committed(&direct, &acknowledged).await;
    server.shutdown.notify();
}

/// Writers keep connections only when the pool has one more for the rest of the service: with as
/// many writers as connections, `/healthz` still gets one while deliveries keep coming.
#[sqlx::test(migrations = false)]
async fn writers_leave_a_connection_to_the_rest_of_the_service(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings_without_patience(SECRET);
    settings.database.max_connections = 2;
    settings.batch.writers = 2;
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db);
    let server = Served::start(clerk_sync::rocket(pool, settings)).await;
    let port = server.port;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let stop = stop.clone();
            rocket::tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = user_event("user.created", &format!("user_{sender}_{n}"), 1, "Doe");
                    let answer = post_signed(port, &new_svix_id(), &body).await;
                    assert_eq!(answer.map(|a| a.0), Some(200));
                    n += 1;
                }
                n
            })
        })
        .collect();
    for _ in 0..10 {
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        let health = http(port, "GET", "/healthz", &[], b"").await.unwrap();
        assert_eq!(health.0, 200, "{health:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        assert!(sender.await.unwrap() > 0, "a sender got nothing through");
    }
    server.shutdown.notify();
}
