//! The `clerk-sync` tool, run as a user runs it: `serve`, `send`, `replay`, `prune`, `stats`,
//! their output and exit codes, against a real server and a fresh database.

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::helpers::*;

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// `clerk-sync serve` on a fresh database, and `clerk-sync send` to it.
async fn serve_and_url(db: &PgConnectOptions) -> (Standalone, String, PgPool) {
    let url = database_url(db).await;
    let mut server = Standalone::spawn(serve(), &url, None);
    server.ready().await;
    let endpoint = format!("http://127.0.0.1:{}/webhooks/clerk", server.port);
    let pool = PgPool::connect(&url).await.unwrap();
    (server, endpoint, pool)
}

#[sqlx::test(migrations = false)]
async fn serve_then_send_puts_a_user_in_clerk_users(_: PgPoolOptions, db: PgConnectOptions) {
    let (_server, endpoint, pool) = serve_and_url(&db).await;
    let run = clerk_sync(
        &["send", "user.created", "--url", &endpoint],
        &[("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("user.created msg_"), "{run:?}");
    assert!(run.stdout.contains("200 OK"), "{run:?}");
    assert!(run.stdout.contains(r#""outcome":"applied""#), "{run:?}");
    let name: (String, String) = sqlx::query_as("select first_name, last_name from clerk.users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, ("John".to_owned(), "Doe".to_owned()));
}

#[sqlx::test(migrations = false)]
async fn send_all_delivers_every_example_and_each_is_stored(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let (_server, endpoint, pool) = serve_and_url(&db).await;
    let list = clerk_sync(&["send", "--list"], &[]).await;
    assert_eq!(list.code, 0, "{list:?}");
    let types = list.stdout.lines().count();
    assert!(types >= 45, "{list:?}");
    let run = clerk_sync(
        &["send", "--all", "--url", &endpoint],
        &[("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.matches("200 OK").count(), types, "{run:?}");
    assert_eq!(
        count(&pool, "select count(*) from clerk.webhook_events").await,
        types as i64
    );
}

#[sqlx::test(migrations = false)]
async fn send_exit_codes_tell_refused_from_broken_from_misused(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let (_server, endpoint, pool) = serve_and_url(&db).await;
    let secret = [("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)];

    let wrong = clerk_sync(
        &["send", "user.created", "--url", &endpoint],
        &[("CLERK_WEBHOOK_SIGNING_SECRET", OTHER_SECRET)],
    )
    .await;
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(wrong.stdout.contains("401"), "{wrong:?}");
    assert!(wrong.stdout.contains("invalid_signature"), "{wrong:?}");

    let stale = clerk_sync(
        &[
            "send",
            "user.created",
            "--url",
            &endpoint,
            "--timestamp",
            "1700000000",
        ],
        &secret,
    )
    .await;
    assert_eq!(stale.code, 3, "{stale:?}");

    let unknown = clerk_sync(&["send", "user.exploded", "--url", &endpoint], &secret).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("send --list"), "{unknown:?}");

    let no_secret = clerk_sync(&["send", "user.created", "--url", &endpoint], &[]).await;
    assert_eq!(no_secret.code, 2, "{no_secret:?}");
    assert!(
        no_secret.stderr.contains("CLERK_WEBHOOK_SIGNING_SECRET"),
        "{no_secret:?}"
    );

    let nobody_home = clerk_sync(
        &[
            "send",
            "user.created",
            "--url",
            "http://127.0.0.1:9/webhooks/clerk",
        ],
        &secret,
    )
    .await;
    assert_eq!(nobody_home.code, 1, "{nobody_home:?}");

    let bad_flag = clerk_sync(&["send", "--no-such-flag"], &secret).await;
    assert_eq!(bad_flag.code, 2, "{bad_flag:?}");
    assert_eq!(
        count(&pool, "select count(*) from clerk.webhook_events").await,
        0
    );
}

/// `clerk-sync healthcheck`, as a container's `HEALTHCHECK` runs it: 0 against a healthy server
/// (found by `ROCKET_PORT`, as in the image, or by `--url`), 1 when the answer is not 200 or
/// nobody listens.
#[sqlx::test(migrations = false)]
async fn healthcheck_exits_0_on_a_healthy_server_and_1_otherwise(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let (server, _, _) = serve_and_url(&db).await;
    let port = server.port.to_string();
    let up = clerk_sync(&["healthcheck"], &[("ROCKET_PORT", &port)]).await;
    assert_eq!(up.code, 0, "{up:?}");
    assert!(up.stdout.starts_with("healthy: "), "{up:?}");
    assert_eq!(up.stdout.lines().count(), 1, "{up:?}");

    let base = format!("http://127.0.0.1:{port}");
    let by_url = clerk_sync(&["healthcheck", "--url", &format!("{base}/healthz")], &[]).await;
    assert_eq!(by_url.code, 0, "{by_url:?}");

    let not_found = clerk_sync(&["healthcheck", "--url", &format!("{base}/nowhere")], &[]).await;
    assert_eq!(not_found.code, 1, "{not_found:?}");
    assert!(not_found.stdout.contains("404"), "{not_found:?}");

    let closed = clerk_sync(&["healthcheck", "--url", "http://127.0.0.1:9/healthz"], &[]).await;
    assert_eq!(closed.code, 1, "{closed:?}");
    assert!(closed.stdout.starts_with("unhealthy: "), "{closed:?}");
}

#[sqlx::test(migrations = false)]
async fn send_a_file_and_the_same_svix_id_twice(_: PgPoolOptions, db: PgConnectOptions) {
    let (_server, endpoint, pool) = serve_and_url(&db).await;
    let file = std::env::temp_dir().join(format!("{}.json", new_svix_id()));
    std::fs::write(
        &file,
        user_event("user.updated", "user_file", 1_700_000_000_000, "Filed"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let secret = [("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)];
    let first = clerk_sync(
        &["send", file, "--url", &endpoint, "--svix-id", "msg_same"],
        &secret,
    )
    .await;
    let again = clerk_sync(
        &["send", file, "--url", &endpoint, "--svix-id", "msg_same"],
        &secret,
    )
    .await;
    assert_eq!((first.code, again.code), (0, 0), "{first:?} {again:?}");
    assert!(first.stdout.contains(r#""outcome":"applied""#), "{first:?}");
    assert!(
        again.stdout.contains(r#""outcome":"duplicate""#),
        "{again:?}"
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from clerk.users where last_name = 'Filed'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn stats_counts_rows_statuses_and_the_newest_event(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db.clone()).await;
    for body in [
        user_event("user.created", "user_1", 1_000, "One"),
        user_event("user.created", "user_2", 1_000, "Two"),
        user_deleted("user_2"),
        r#"{"type":"future.event","timestamp":1716883200000,"data":{"id":"x_1"}}"#.to_owned(),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    let url = database_url(&db).await;
    let run = clerk_sync(&["stats", "--json"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let stats: Value = serde_json::from_str(&run.stdout).unwrap();
    let users = stats["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "clerk.users")
        .unwrap();
    assert_eq!(
        (users["rows"].as_i64(), users["deleted"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(stats["ledger_rows"], 4);
    assert!(stats["ledger_bytes"].as_i64().unwrap() > 0);
    let statuses: Vec<(String, i64)> =
        serde_json::from_value(stats["ledger_by_status"].clone()).unwrap();
    assert!(
        statuses.contains(&("unhandled".to_owned(), 1)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("applied".to_owned(), 3)),
        "{statuses:?}"
    );
    assert_eq!(stats["newest_event_at"], "2024-05-28T08:00:00.000Z");
    assert!(stats["newest_received_at"].as_str().unwrap().ends_with('Z'));

    let table = clerk_sync(&["stats"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains("clerk.users"), "{table:?}");
    assert!(table.stdout.contains("unhandled"), "{table:?}");
}

#[sqlx::test(migrations = false)]
async fn prune_removes_old_rows_and_refuses_less_than_28_hours(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    for i in 0..5 {
        let body = user_event("user.created", &format!("user_{i}"), 1_000, "X");
        expect_status(app.deliver(&body).await, 200).await;
    }
    sqlx::query(
        "update clerk.webhook_events set received_at = now() - interval '40 hours'
         where svix_id in (select svix_id from clerk.webhook_events order by svix_id limit 3)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let url = database_url(&db).await;
    let env = [("DATABASE_URL", url.as_str())];

    let refused = clerk_sync(&["prune", "--retention-hours", "27"], &env).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("28"), "{refused:?}");
    assert_eq!(app.ledger_rows().await, 5);

    let kept = clerk_sync(&["prune"], &env).await;
    assert_eq!(kept.code, 0, "{kept:?}");
    assert!(kept.stdout.contains("pruned 0 "), "{kept:?}");

    let pruned = clerk_sync(&["prune", "--retention-hours", "30"], &env).await;
    assert_eq!(pruned.code, 0, "{pruned:?}");
    assert!(pruned.stdout.contains("pruned 3 "), "{pruned:?}");
    assert_eq!(app.ledger_rows().await, 2);
    // The projections are not the ledger: pruning never touches them.
    assert_eq!(app.user_rows().await, 5);
}

#[sqlx::test(migrations = false)]
async fn replay_failed_applies_what_an_older_version_could_not(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    for body in [
        user_event("user.created", "user_1", 1_000, "Kept"),
        user_event("user.created", "user_2", 1_000, "Missed"),
        user_event("user.updated", "user_3", 2_000, "Unknown"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    // As an older version would have left them: user_2's payload did not parse (failed) and
    // user_3's type was not known (unhandled); neither reached clerk.users.
    sqlx::query(
        "update clerk.webhook_events set status = case object_id
             when 'user_2' then 'failed' else 'unhandled' end
         where object_id in ('user_2', 'user_3')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("delete from clerk.users where id in ('user_2', 'user_3')")
        .execute(&app.db)
        .await
        .unwrap();
    let url = database_url(&db).await;
    let env = [("DATABASE_URL", url.as_str())];

    let run = clerk_sync(&["replay", "--failed"], &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("replayed 2 events: 2 rows written"),
        "{run:?}"
    );
    let names: Vec<String> = sqlx::query_scalar("select last_name from clerk.users order by id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(names, ["Kept", "Missed", "Unknown"]);
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where status = 'applied'")
            .await,
        3
    );
    // Nothing is left to pick up.
    let again = clerk_sync(&["replay", "--failed"], &env).await;
    assert!(again.stdout.starts_with("replayed 0 events"), "{again:?}");
}

#[sqlx::test(migrations = false)]
async fn replay_all_rebuilds_a_lost_projection_and_changes_nothing_when_run_again(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    for file in [
        "user.created.json",
        "organization.created.json",
        "organizationMembership.created.json",
        "session.created.json",
    ] {
        let ack = expect_status(app.deliver(&fixture(file)).await, 200).await;
        assert_eq!(ack["outcome"], "applied");
    }
    let newer = user_event(
        "user.updated",
        "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        1_900_000_000_000,
        "Newer",
    );
    let ack = expect_status(app.deliver(&newer).await, 200).await;
    assert_eq!(ack["outcome"], "applied");
    let snapshot = "select string_agg(t::text, '|' order by t::text) from (
        select id, last_name, deleted_at, data, sync_version, sync_rank, sync_svix_id from clerk.users
        union all select id, name, deleted_at, data, sync_version, sync_rank, sync_svix_id from clerk.organizations
        union all select id, role, deleted_at, data, sync_version, sync_rank, sync_svix_id from clerk.organization_memberships
        union all select id, status, deleted_at, data, sync_version, sync_rank, sync_svix_id from clerk.sessions) t";
    let before: String = sqlx::query_scalar(snapshot)
        .fetch_one(&app.db)
        .await
        .unwrap();
    // A projection lost (or added by a new version): the ledger rebuilds it.
    sqlx::query("truncate clerk.organization_memberships, clerk.users")
        .execute(&app.db)
        .await
        .unwrap();
    let url = database_url(&db).await;
    let env = [("DATABASE_URL", url.as_str())];
    let run = clerk_sync(&["replay", "--all", "--batch-size", "2"], &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("replayed 5 events"), "{run:?}");
    let after: String = sqlx::query_scalar(snapshot)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, before);
    // With the rows in place, the user's older event is superseded by its newer one.
    let since = clerk_sync(&["replay", "--since", "1 hour"], &env).await;
    assert_eq!(since.code, 0, "{since:?}");
    assert!(
        since
            .stdout
            .starts_with("replayed 5 events: 4 rows written, 1 superseded"),
        "{since:?}"
    );
    let later = clerk_sync(&["replay", "--since", "2999-01-01T00:00:00Z"], &env).await;
    assert!(later.stdout.contains("replayed 0 events"), "{later:?}");
    let again: String = sqlx::query_scalar(snapshot)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(again, before);

    let bogus = clerk_sync(&["replay", "--since", "last tuesday-ish"], &env).await;
    assert_eq!(bogus.code, 2, "{bogus:?}");
    let none = clerk_sync(&["replay"], &env).await;
    assert_eq!(none.code, 2, "{none:?}");
}

#[sqlx::test(migrations = false)]
async fn replay_of_a_payload_still_unreadable_exits_3_and_keeps_it_failed(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    let ack = expect_status(
        app.deliver(r#"{"type":"user.updated","data":{"id":42}}"#)
            .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "failed");
    let url = database_url(&db).await;
    let run = clerk_sync(&["replay", "--failed"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("1 failed"), "{run:?}");
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where status = 'failed'")
            .await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn replay_counts_a_ledger_row_that_is_no_event_names_it_and_exits_3(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    for (id, name) in [("user_1", "One"), ("user_2", "Two")] {
        let ack = expect_status(
            app.deliver(&user_event("user.created", id, 1_000, name))
                .await,
            200,
        )
        .await;
        assert_eq!(ack["outcome"], "applied");
    }
    // Written by hand (or by another version): valid JSON, but no event envelope.
    sqlx::query(
        "insert into clerk.webhook_events (svix_id, event_type, status, payload)
         values ('msg_not_an_event', 'user.updated', 'failed', '{\"note\": \"private words\"}')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let url = database_url(&db).await;
    let run = clerk_sync(&["replay", "--all"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout
            .starts_with("replayed 3 events: 2 rows written, "),
        "{run:?}"
    );
    assert!(run.stdout.contains(", 0 failed, 1 unreadable"), "{run:?}");
    assert!(run.stderr.contains("msg_not_an_event"), "{run:?}");
    assert!(!run.stderr.contains("private words"), "{run:?}");
    // The readable events were applied; the unreadable row is left as it was.
    assert_eq!(app.user_rows().await, 2);
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where status = 'failed'")
            .await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn every_subcommand_has_help(_: PgPoolOptions, _db: PgConnectOptions) {
    for command in ["serve", "send", "backfill", "replay", "prune", "stats"] {
        let run = clerk_sync(&[command, "--help"], &[]).await;
        assert_eq!(run.code, 0, "{command}: {run:?}");
        assert!(
            run.stdout.contains("Usage: clerk-sync"),
            "{command}: {run:?}"
        );
        assert!(run.stdout.contains("Exit codes:"), "{command}: {run:?}");
    }
    let tools_without_database = clerk_sync(&["stats"], &[]).await;
    assert_eq!(tools_without_database.code, 2, "{tools_without_database:?}");
    assert!(tools_without_database.stderr.contains("DATABASE_URL"));
}
