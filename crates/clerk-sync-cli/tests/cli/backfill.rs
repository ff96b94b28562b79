//! `clerk-sync backfill` against a local mock of the Clerk Backend API (never the real one):
//! pagination, rate limits, transient failures, resuming, ordering against live deliveries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

const SECRET_KEY: &str = "sk_test_backfill";

/// A user as the Backend API lists it: the same shape webhooks carry.
fn user(i: usize, updated_at: i64, last_name: &str) -> Value {
    let mut user: Value = serde_json::from_str(&fixture("user.updated.json")).unwrap();
    let mut data = user["data"].take();
    data["id"] = json!(format!("user_{i:03}"));
    data["created_at"] = json!(1_700_000_000_000i64 + i as i64);
    data["updated_at"] = json!(updated_at);
    data["last_name"] = json!(last_name);
    data
}

fn organization(i: usize) -> Value {
    let mut org: Value = serde_json::from_str(&fixture("organization.created.json")).unwrap();
    let mut data = org["data"].take();
    data["id"] = json!(format!("org_{i}"));
    data["name"] = json!(format!("Org {i}"));
    data
}

fn membership(i: usize, org: usize, user: usize) -> Value {
    let mut m: Value =
        serde_json::from_str(&fixture("organizationMembership.created.json")).unwrap();
    let mut data = m["data"].take();
    data["id"] = json!(format!("orgmem_{i}"));
    data["organization"]["id"] = json!(format!("org_{org}"));
    data["public_user_data"]["user_id"] = json!(format!("user_{user:03}"));
    data
}

/// Serves a listing from `objects` by its `offset` and `limit`, as Clerk does. `bare` answers a
/// plain array (`/v1/users`), else `{"data", "total_count"}`. Each request's offset is recorded.
#[derive(Clone)]
struct Listing {
    objects: Arc<Mutex<Vec<Value>>>,
    bare: bool,
    offsets: Arc<Mutex<Vec<usize>>>,
}

impl Listing {
    fn new(objects: Vec<Value>, bare: bool) -> Self {
        Self {
            objects: Arc::new(Mutex::new(objects)),
            bare,
            offsets: Arc::default(),
        }
    }
}

fn query(request: &Request, name: &str) -> Option<usize> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

impl Respond for Listing {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let offset = query(request, "offset").unwrap_or(0);
        let limit = query(request, "limit").unwrap_or(10);
        assert_eq!(
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == "order_by")
                .map(|(_, v)| v.into_owned()),
            Some("+created_at".to_owned())
        );
        self.offsets.lock().unwrap().push(offset);
        let objects = self.objects.lock().unwrap();
        let page: Vec<Value> = objects.iter().skip(offset).take(limit).cloned().collect();
        let body = if self.bare {
            json!(page)
        } else {
            json!({ "data": page, "total_count": objects.len() })
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// Fails the first `n` requests with `status` (and `Retry-After: 1` for a 429), then passes.
struct FailFirst {
    n: usize,
    status: u16,
    seen: AtomicUsize,
    then: Listing,
}

impl Respond for FailFirst {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.seen.fetch_add(1, Ordering::SeqCst) < self.n {
            let failure = ResponseTemplate::new(self.status);
            return if self.status == 429 {
                failure.insert_header("retry-after", "1")
            } else {
                failure.set_body_string("upstream hiccup")
            };
        }
        self.then.respond(request)
    }
}

struct MockClerk {
    server: MockServer,
    users: Listing,
}

type Wrap = fn(Listing) -> Box<dyn Respond>;

/// Lets a boxed responder be mounted.
struct Boxed(Box<dyn Respond>);

impl Respond for Boxed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

fn plain(listing: Listing) -> Box<dyn Respond> {
    Box::new(listing)
}

/// 25 users (3 pages of 10), 3 organizations, 4 memberships, behind the secret key; `users` and
/// `organizations` wrap their listings (to fail some requests, say).
async fn mock_clerk_with(
    users: impl FnOnce(Listing) -> Box<dyn Respond>,
    organizations: Wrap,
) -> MockClerk {
    let server = MockServer::start().await;
    let user_listing = Listing::new(
        (0..25).map(|i| user(i, 1_700_000_000_000, "Api")).collect(),
        true,
    );
    let auth = || header("authorization", format!("Bearer {SECRET_KEY}").as_str());
    let count = json!({"object": "total_count", "total_count": 25});
    Mock::given(method("GET"))
        .and(path("/v1/users/count"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(count))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .and(auth())
        .respond_with(Boxed(users(user_listing.clone())))
        .mount(&server)
        .await;
    let orgs = Listing::new((0..3).map(organization).collect(), false);
    Mock::given(method("GET"))
        .and(path("/v1/organizations"))
        .and(auth())
        .respond_with(Boxed(organizations(orgs)))
        .mount(&server)
        .await;
    let memberships = Listing::new((0..4).map(|i| membership(i, i % 3, i)).collect(), false);
    Mock::given(method("GET"))
        .and(path("/v1/organization_memberships"))
        .and(auth())
        .respond_with(memberships)
        .mount(&server)
        .await;
    let refused = json!({"errors": [{"message": "Unauthorized"}]});
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(refused))
        .mount(&server)
        .await;
    MockClerk {
        server,
        users: user_listing,
    }
}

async fn mock_clerk(users: impl FnOnce(Listing) -> Box<dyn Respond>) -> MockClerk {
    mock_clerk_with(users, plain).await
}

async fn backfill(db_url: &str, api: &MockClerk, extra: &[&str]) -> Run {
    let mut args = vec!["backfill", "--page-size", "10", "--backoff-ms", "50"];
    args.extend_from_slice(extra);
    clerk_sync(
        &args,
        &[
            ("DATABASE_URL", db_url),
            ("CLERK_SECRET_KEY", SECRET_KEY),
            ("CLERK_API_URL", &api.server.uri()),
        ],
    )
    .await
}

#[sqlx::test(migrations = false)]
async fn backfill_reads_every_page_through_a_429_and_a_500(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db.clone()).await;
    // The first users request is rate limited; the first organizations request fails with 500.
    let api = mock_clerk_with(
        |users| {
            Box::new(FailFirst {
                n: 1,
                status: 429,
                seen: AtomicUsize::new(0),
                then: users,
            })
        },
        |orgs| {
            Box::new(FailFirst {
                n: 1,
                status: 500,
                seen: AtomicUsize::new(0),
                then: orgs,
            })
        },
    )
    .await;
    let url = database_url(&db).await;
    let started = std::time::Instant::now();
    let run = backfill(&url, &api, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    // The 429 asked for one second, and it was honoured.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(run.stderr.contains("429"), "{run:?}");
    assert!(run.stderr.contains("Retry-After"), "{run:?}");
    assert!(run.stderr.contains("500"), "{run:?}");
    assert!(run.stdout.contains("users: 25 read, 25 applied"), "{run:?}");
    assert!(
        run.stdout.contains("organizations: 3 read, 3 applied"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("memberships: 4 read, 4 applied"),
        "{run:?}"
    );
    assert_eq!(app.user_rows().await, 25);
    assert_eq!(
        app.count("select count(*) from clerk.organizations").await,
        3
    );
    assert_eq!(
        app.count("select count(*) from clerk.organization_memberships where user_id is not null")
            .await,
        4
    );
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where svix_id like 'backfill_%'")
            .await,
        32
    );
    // Pages of 10 with one object of overlap after the first.
    assert_eq!(*api.users.offsets.lock().unwrap(), [0, 9, 18]);

    // Running it again over unchanged objects writes nothing.
    let again = backfill(&url, &api, &[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .contains("users: 25 read, 0 applied, 25 unchanged"),
        "{again:?}"
    );
    assert_eq!(app.ledger_rows().await, 32);
}

#[sqlx::test(migrations = false)]
async fn backfill_never_overwrites_newer_data_nor_resurrects_a_deletion(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    // Live deliveries that are newer than the API snapshot the backfill will read.
    let newer = user_event("user.updated", "user_001", 1_800_000_000_000, "Webhook");
    expect_status(app.deliver(&newer).await, 200).await;
    expect_status(app.deliver(&user_deleted("user_002")).await, 200).await;
    let api = mock_clerk(plain).await;
    let url = database_url(&db).await;
    let run = backfill(&url, &api, &["--only", "users"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("users: 25 read, 24 applied, 1 unchanged"),
        "{run:?}"
    );
    let row = |id: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_as::<_, (String, bool)>(
                "select last_name, deleted_at is not null from clerk.users where id = $1",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(row("user_001").await, ("Webhook".to_owned(), false));
    assert!(row("user_002").await.1, "a deleted user stays deleted");
    assert_eq!(row("user_003").await, ("Api".to_owned(), false));
    // Organizations were not asked for.
    assert_eq!(
        app.count("select count(*) from clerk.organizations").await,
        0
    );

    // And a webhook newer than the backfill still wins afterwards.
    let later = user_event("user.updated", "user_003", 1_800_000_000_000, "Later");
    expect_status(app.deliver(&later).await, 200).await;
    assert_eq!(row("user_003").await.0, "Later");
}

#[sqlx::test(migrations = false)]
async fn an_interrupted_backfill_resumes_where_it_stopped(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db.clone()).await;
    // The API dies for good after the first page.
    struct DiesAfterFirstPage(Listing);
    impl Respond for DiesAfterFirstPage {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            if query(request, "offset").unwrap_or(0) > 0 {
                return ResponseTemplate::new(503);
            }
            self.0.respond(request)
        }
    }
    let dying = mock_clerk(|users| Box::new(DiesAfterFirstPage(users))).await;
    let url = database_url(&db).await;
    let run = backfill(&url, &dying, &["--only", "users", "--max-retries", "1"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("run it again to resume"), "{run:?}");
    assert_eq!(app.user_rows().await, 10);
    let cursor: (i64, Option<String>, bool) = sqlx::query_as(
        "select next_offset, last_id, finished_at is not null from clerk.backfill_cursors
         where resource = 'users'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(cursor, (10, Some("user_009".to_owned()), false));

    let healthy = mock_clerk(plain).await;
    let resumed = backfill(&url, &healthy, &["--only", "users"]).await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(
        resumed.stdout.contains("resuming at offset 10"),
        "{resumed:?}"
    );
    assert!(
        resumed.stdout.contains("users: 15 read, 15 applied"),
        "{resumed:?}"
    );
    // It never went back to the first page (beyond the one-object overlap).
    assert_eq!(*healthy.users.offsets.lock().unwrap(), [9, 18]);
    assert_eq!(app.user_rows().await, 25);

    // Finished: the next backfill starts over (and finds nothing new).
    let fresh = backfill(&url, &healthy, &["--only", "users"]).await;
    assert!(
        fresh
            .stdout
            .contains("users: 25 read, 0 applied, 25 unchanged"),
        "{fresh:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn deletions_in_clerk_during_a_backfill_do_not_make_it_skip_anyone(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    // After the first page is served, three of its users are deleted in Clerk: every later user
    // moves three places up, more than the one-object overlap covers.
    struct DeletesAfterFirstPage(Listing, AtomicUsize);
    impl Respond for DeletesAfterFirstPage {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let response = self.0.respond(request);
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                self.0.objects.lock().unwrap().drain(2..5);
            }
            response
        }
    }
    let api = mock_clerk(|users| Box::new(DeletesAfterFirstPage(users, AtomicUsize::new(0)))).await;
    let url = database_url(&db).await;
    let run = backfill(&url, &api, &["--only", "users"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("stepping back"), "{run:?}");
    // All 22 remaining users (and the 3 deleted ones, from the first page) are there.
    assert_eq!(app.user_rows().await, 25);
}

#[sqlx::test(migrations = false)]
async fn a_backfill_whose_last_object_was_deleted_in_clerk_resumes_near_where_it_stopped(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    // The API dies for good after two pages (offsets 0 and 9).
    struct DiesAfterTwoPages(Listing);
    impl Respond for DiesAfterTwoPages {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            if query(request, "offset").unwrap_or(0) > 9 {
                return ResponseTemplate::new(503);
            }
            self.0.respond(request)
        }
    }
    let dying = mock_clerk(|users| Box::new(DiesAfterTwoPages(users))).await;
    let url = database_url(&db).await;
    let run = backfill(&url, &dying, &["--only", "users", "--max-retries", "1"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(app.user_rows().await, 19);
    let cursor: (i64, Option<String>, Option<i64>) = sqlx::query_as(
        "select next_offset, last_id, last_created_at from clerk.backfill_cursors
         where resource = 'users'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        cursor,
        (19, Some("user_018".to_owned()), Some(1_700_000_000_018))
    );

    // Before the next run, the last user written is deleted in Clerk: no page will hold it.
    let healthy = mock_clerk(plain).await;
    healthy.users.objects.lock().unwrap().remove(18);
    let resumed = backfill(&url, &healthy, &["--only", "users"]).await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(
        resumed.stderr.contains("was deleted in Clerk meanwhile"),
        "{resumed:?}"
    );
    // One page back (the overlap no longer reaches a user written before), never to the start.
    let offsets = healthy.users.offsets.lock().unwrap().clone();
    assert_eq!(offsets, [18, 8, 17]);
    assert!(
        resumed.stdout.contains("users: 6 read, 6 applied"),
        "{resumed:?}"
    );
    let remaining: Vec<String> = (0..25)
        .filter(|&i| i != 18)
        .map(|i| format!("user_{i:03}"))
        .collect();
    let present: i64 = sqlx::query_scalar("select count(*) from clerk.users where id = any($1)")
        .bind(&remaining)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(present, 24, "every user still in Clerk is there");
}

#[sqlx::test(migrations = false)]
async fn a_dry_run_counts_exactly_and_keeps_nothing(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db.clone()).await;
    expect_status(
        app.deliver(&user_event(
            "user.updated",
            "user_001",
            1_800_000_000_000,
            "Webhook",
        ))
        .await,
        200,
    )
    .await;
    let api = mock_clerk(plain).await;
    let url = database_url(&db).await;
    let run = backfill(&url, &api, &["--dry-run"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("users: 25 read, 24 applied, 1 unchanged"),
        "{run:?}"
    );
    assert!(run.stdout.contains("dry run"), "{run:?}");
    assert_eq!(app.user_rows().await, 1);
    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(
        app.count("select count(*) from clerk.backfill_cursors")
            .await,
        0
    );
}

#[sqlx::test(migrations = false)]
async fn a_refused_secret_key_is_a_clear_error(_: PgPoolOptions, db: PgConnectOptions) {
    let api = mock_clerk(plain).await;
    let url = database_url(&db).await;
    let run = clerk_sync(
        &["backfill"],
        &[
            ("DATABASE_URL", &url),
            ("CLERK_SECRET_KEY", "sk_test_wrong"),
            ("CLERK_API_URL", &api.server.uri()),
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("Clerk refused CLERK_SECRET_KEY (401"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("sk_test_wrong"), "{run:?}");
    let missing = clerk_sync(&["backfill"], &[("DATABASE_URL", &url)]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("CLERK_SECRET_KEY"), "{missing:?}");
}

#[sqlx::test(migrations = false)]
async fn an_object_whose_values_postgres_refuses_is_kept_as_failed_and_the_backfill_goes_on(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db.clone()).await;
    let api = mock_clerk(plain).await;
    // An updated_at past timestamptz's range, in the middle of the second page.
    api.users.objects.lock().unwrap()[12]["updated_at"] = json!(i64::MAX);
    let url = database_url(&db).await;
    let run = backfill(&url, &api, &["--only", "users"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout
            .contains("users: 25 read, 24 applied, 0 unchanged, 1 failed"),
        "{run:?}"
    );
    assert_eq!(app.user_rows().await, 24);
    assert_eq!(
        app.count(
            "select count(*) from clerk.webhook_events
             where object_id = 'user_012' and status = 'failed' and failure_reason like '%22008%'"
        )
        .await,
        1
    );
    // Run again: the failed object is a duplicate, nothing else changes.
    let again = backfill(&url, &api, &["--only", "users"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(app.user_rows().await, 24);
}
