//! The service as operators run it: several instances on one database (a rolling deploy), and
//! shutdown signals in the middle of traffic.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn two_instances_migrating_at_once_and_receiving_the_same_deliveries_have_one_effect(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let url = database_url(&db).await;
    // Both start on an empty database at the same moment: both run the migrations.
    let (mut a, mut b) = (
        Standalone::spawn(serve(), &url, None),
        Standalone::spawn(serve(), &url, None),
    );
    a.ready().await;
    b.ready().await;

    let deliveries: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                new_svix_id(),
                user_event("user.created", &format!("user_{i}"), 1, "Doe"),
            )
        })
        .collect();
    let sends = deliveries.iter().flat_map(|(svix_id, body)| {
        [a.port, b.port].map(|port| async move {
            post_signed(port, svix_id, body)
                .await
                .map(|(status, _)| status)
        })
    });
    let statuses = rocket::futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == Some(200)), "{statuses:?}");

    let direct = PgPool::connect_with(db).await.unwrap();
    let count = |sql: &'static str| {
        let direct = direct.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&direct)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("select count(*) from clerk.webhook_events").await, 40);
    assert_eq!(count("select count(*) from clerk.users").await, 40);
    let migrations = clerk_sync::db::migrator().iter().count() as i64;
    assert_eq!(
        count("select count(*) from _sqlx_migrations").await,
        migrations
    );
}

/// Sends deliveries from several connections until the server stops answering, recording what
/// was acknowledged in `acknowledged`; returns it, and how many were answered 5xx.
async fn traffic_until_gone(
    port: u16,
    connections: usize,
    acknowledged: Arc<Mutex<Vec<String>>>,
) -> (Vec<String>, usize) {
    let failed = Arc::new(Mutex::new(0));
    let senders = (0..connections).map(|c| {
        let acknowledged = acknowledged.clone();
        let failed = failed.clone();
        async move {
            for n in 0..10_000 {
                let svix_id = new_svix_id();
                let body = user_event("user.created", &format!("user_{c}_{n}"), 1, "Doe");
                match post_signed(port, &svix_id, &body).await {
                    Some((200, _)) => acknowledged.lock().unwrap().push(svix_id),
                    Some((status, _)) if status >= 500 => *failed.lock().unwrap() += 1,
                    Some((status, body)) => panic!("unexpected {status}: {body}"),
                    None => return,
                }
            }
        }
    });
    rocket::futures::future::join_all(senders).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    let failed = *failed.lock().unwrap();
    (acknowledged, failed)
}

#[sqlx::test(migrations = false)]
async fn a_shutdown_signal_mid_traffic_loses_no_acknowledged_delivery(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let url = database_url(&db).await;
    let direct = PgPool::connect_with(db).await.unwrap();
    for signal in ["TERM", "INT"] {
        let mut server = Standalone::spawn(serve(), &url, None);
        server.ready().await;
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let traffic =
            rocket::tokio::spawn(traffic_until_gone(server.port, 8, acknowledged.clone()));
        // Mid-traffic: once deliveries are being acknowledged, however slow the machine.
        let started = Instant::now();
        while acknowledged.lock().unwrap().len() < 20 && started.elapsed() < PATIENT {
            rocket::tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.signal(signal);
        let (acknowledged, _failed) = traffic.await.unwrap();
        let exit = server.child.wait().unwrap();
        assert!(
            exit.success(),
            "SIG{signal}: exited with {exit}:\n{}",
            server.output()
        );
        assert!(!acknowledged.is_empty());
        let stored: i64 =
            sqlx::query_scalar("select count(*) from clerk.webhook_events where svix_id = any($1)")
                .bind(&acknowledged)
                .fetch_one(&direct)
                .await
                .unwrap();
        assert_eq!(
            stored,
            acknowledged.len() as i64,
            "SIG{signal}: a 2xx without a commit"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn a_stop_that_has_to_cut_off_a_stuck_delivery_still_exits_0_and_stores_nothing(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let url = database_url(&db).await;
    // Rocket's grace and mercy periods (1 s each here) are shorter than the time a delivery may
    // wait for its commit, so the stop has to cut that delivery off.
    let mut server = Standalone::spawn_with(
        serve(),
        &url,
        None,
        &[
            ("ROCKET_SHUTDOWN", "{grace=1,mercy=1}"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "30000"),
            ("CLERK_SYNC_REQUEST_TIMEOUT_MS", "30000"),
        ],
    );
    server.ready().await;
    let direct = PgPool::connect_with(db).await.unwrap();
    let blocker = hold_users_table(&direct).await;
    let svix_id = new_svix_id();
    let stuck = post_in_background(server.port, &svix_id);
    wait_for_a_lock_wait(&direct).await;
    server.signal("TERM");
    let exit = exit_of(server).await;
    assert!(exit.0.success(), "exited with {}:\n{}", exit.0, exit.1);
    assert!(exit.1.contains("shutdown cut off"), "{}", exit.1);
    let answer = stuck.await.unwrap();
    assert!(!matches!(answer, Some((200, _))), "{answer:?}");
    blocker.rollback().await.unwrap();
    let stored: i64 = sqlx::query_scalar("select count(*) from clerk.webhook_events")
        .fetch_one(&direct)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing half-written");
}

/// Rocket's default grace period (2 s) is shorter than a delivery may wait for its commit; the
/// service raises it to cover the request timeout, so a stop lets that delivery finish.
#[sqlx::test(migrations = false)]
async fn a_stop_lets_a_delivery_waiting_longer_than_rockets_default_grace_finish(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let url = database_url(&db).await;
    let mut server = Standalone::spawn(serve(), &url, None);
    server.ready().await;
    let direct = PgPool::connect_with(db).await.unwrap();
    let blocker = hold_users_table(&direct).await;
    let svix_id = new_svix_id();
    let waiting = post_in_background(server.port, &svix_id);
    wait_for_a_lock_wait(&direct).await;
    server.signal("TERM");
    // Longer than Rocket's default grace period (2 s): the subject of this test.
    rocket::tokio::time::sleep(Duration::from_millis(3000)).await;
    blocker.rollback().await.unwrap();
    let answer = waiting.await.unwrap();
    assert!(matches!(answer, Some((200, _))), "{answer:?}");
    let exit = exit_of(server).await;
    assert!(exit.0.success(), "exited with {}:\n{}", exit.0, exit.1);
    let stored: i64 =
        sqlx::query_scalar("select count(*) from clerk.webhook_events where svix_id = $1")
            .bind(&svix_id)
            .fetch_one(&direct)
            .await
            .unwrap();
    assert_eq!(stored, 1);
}

/// POSTs a signed `user.created` of `user_1` to the server on `port` from a task of its own.
fn post_in_background(
    port: u16,
    svix_id: &str,
) -> rocket::tokio::task::JoinHandle<Option<(u16, String)>> {
    let svix_id = svix_id.to_owned();
    rocket::tokio::spawn(async move {
        let body = user_event("user.created", "user_1", 1, "Doe");
        post_signed(port, &svix_id, &body).await
    })
}

/// Waits, off the async runtime, for the server to exit; returns its status and output.
async fn exit_of(mut server: Standalone) -> (std::process::ExitStatus, String) {
    rocket::tokio::task::spawn_blocking(move || {
        let exit = server.child.wait().unwrap();
        (exit, server.output())
    })
    .await
    .unwrap()
}
