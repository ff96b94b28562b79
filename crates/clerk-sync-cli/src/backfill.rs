//! `clerk-sync backfill`: pages of the Clerk Backend API, written as webhooks would be.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, ValueEnum};
use clerk_sync::backfill::{self, Cursor, PageReport, Resource};
use clerk_sync::clerk::object_id;
use clerk_sync::config;
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::PgPool;

use crate::clerk_api::{ClerkApi, Page};
use crate::{progress, DatabaseArgs, Done, Usage};

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The instance's secret key (`sk_live_...`, `sk_test_...`).
    #[arg(long, env = "CLERK_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// The instance the secret key belongs to (`ins_...`, the `instance_id` of its webhooks),
    /// recorded on every row written, so that instances sharing a database stay apart.
    #[arg(long, env = config::INSTANCE_ID_VAR)]
    instance_id: Option<String>,
    /// The Backend API's base URL.
    #[arg(long, env = "CLERK_API_URL", default_value = "https://api.clerk.com")]
    api_url: String,
    /// Only these listings (default: all three, in this order).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Listing>,
    /// Objects per request (Clerk allows at most 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=500))]
    page_size: u64,
    /// Read and apply everything inside transactions that are rolled back: the counts are
    /// exact, and nothing is kept (cursors included).
    #[arg(long)]
    dry_run: bool,
    /// Start over instead of resuming an interrupted backfill.
    #[arg(long)]
    restart: bool,
    /// Retries of a request that fails with 5xx or a lost connection, before giving up.
    #[arg(long, default_value_t = 5)]
    max_retries: u32,
    /// The first backoff step in milliseconds; each retry waits twice as long as the last.
    #[arg(long, default_value_t = 500)]
    backoff_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Listing {
    Users,
    Organizations,
    Memberships,
}

impl From<Listing> for Resource {
    fn from(listing: Listing) -> Self {
        match listing {
            Listing::Users => Resource::Users,
            Listing::Organizations => Resource::Organizations,
            Listing::Memberships => Resource::Memberships,
        }
    }
}

pub async fn run(pool: &PgPool, args: BackfillArgs) -> anyhow::Result<Done> {
    let secret_key = args
        .secret_key
        .as_deref()
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(|| Usage("CLERK_SECRET_KEY is not set (or pass --secret-key)".into()))?;
    let mut api = ClerkApi::new(
        &args.api_url,
        secret_key,
        args.max_retries,
        Duration::from_millis(args.backoff_ms),
    );
    let resources: Vec<Resource> = if args.only.is_empty() {
        Resource::ALL.to_vec()
    } else {
        Resource::ALL
            .into_iter()
            .filter(|r| args.only.iter().any(|l| Resource::from(*l) == *r))
            .collect()
    };
    let mut failed = 0;
    for resource in resources {
        let report = backfill_one(pool, &mut api, resource, &args)
            .await
            .with_context(|| format!("backfill of {resource} stopped (run it again to resume)"))?;
        failed += report.failed;
    }
    Ok(if failed > 0 {
        Done::WithRefusals
    } else {
        Done::Ok
    })
}

/// A page re-reads this many objects before its offset, so that deletions in Clerk between two
/// requests (which shift later objects to lower offsets) cannot make us skip an object.
fn overlap(page_size: u64) -> u64 {
    page_size / 10
}

async fn backfill_one(
    pool: &PgPool,
    api: &mut ClerkApi,
    resource: Resource,
    args: &BackfillArgs,
) -> anyhow::Result<PageReport> {
    let mut cursor = Cursor::default();
    if !args.dry_run {
        match backfill::cursor(pool, resource).await? {
            Some(stored) if !stored.finished && !args.restart => {
                say!("{resource}: resuming at offset {}", stored.next_offset);
                cursor = stored;
            }
            _ => backfill::restart(pool, resource).await?,
        }
    }
    // Users pages carry no total; the other listings' pages do.
    let total = match resource {
        Resource::Users => api.user_count().await.ok(),
        _ => None,
    };
    api.progress = progress::bar(total.unwrap_or(0), resource.name());
    api.progress.set_position(cursor.next_offset as u64);

    let mut report = PageReport::default();
    let mut read = 0u64;
    loop {
        let (offset, page, start) = next_page(api, resource, &cursor, args.page_size).await?;
        if let Some(total) = page.total {
            api.progress.set_length(total);
        }
        let page = page.objects;
        let len = page.len() as u64;
        let fetched_at = now_millis();
        let mut snapshots = Vec::new();
        for object in &page[start..] {
            match backfill::snapshot(resource, object, fetched_at, args.instance_id.as_deref()) {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(err) => {
                    report.failed += 1;
                    api.progress
                        .suspend(|| eprintln!("{resource}: skipped an object: {err}"));
                }
            }
        }
        read += (page.len() - start) as u64;
        // The page's last object anchors the next page; an empty page keeps the old anchor.
        let (last_id, last_created_at) = match page.last().and_then(|o| object_id(o.get())) {
            Some(id) => (Some(id), page.last().and_then(|o| created_at(o))),
            None => (cursor.last_id.clone(), cursor.last_created_at),
        };
        let next = Cursor {
            next_offset: (offset + len) as i64,
            last_id,
            last_created_at,
            finished: false,
        };
        let written = backfill::write_page(pool, resource, &snapshots, &next, args.dry_run).await?;
        report.applied += written.applied;
        report.unchanged += written.unchanged;
        report.failed += written.failed;
        api.progress.set_position(next.next_offset as u64);
        cursor = next;
        if len < args.page_size {
            break;
        }
    }
    if !args.dry_run {
        backfill::finish(pool, resource).await?;
    }
    api.progress.finish_and_clear();
    say!(
        "{resource}: {read} read, {} applied, {} unchanged, {} failed{}",
        report.applied,
        report.unchanged,
        report.failed,
        if args.dry_run {
            " (dry run: nothing was kept)"
        } else {
            ""
        }
    );
    Ok(report)
}

/// The page after `cursor`, starting `overlap` objects early, and where its new objects start.
/// If the page does not reach back to the last object written, more objects were deleted in
/// Clerk meanwhile than the overlap covers: step back a page at a time until it does
/// (re-reading costs nothing: the svix-ids are already in the ledger).
async fn next_page(
    api: &ClerkApi,
    resource: Resource,
    cursor: &Cursor,
    page_size: u64,
) -> anyhow::Result<(u64, Page, usize)> {
    let mut offset = (cursor.next_offset as u64).saturating_sub(overlap(page_size));
    // Nothing to find on a first page, nor without an overlap.
    let anchored = cursor.last_id.is_some() && overlap(page_size) > 0;
    loop {
        let page = api.page(resource, offset, page_size).await?;
        match resume_at(&page.objects, cursor) {
            Some(Resume::After(start)) => return Ok((offset, page, start)),
            Some(Resume::AfterTime(start)) => {
                api.progress.suspend(|| {
                    eprintln!(
                        "{resource}: the last object written was deleted in Clerk meanwhile; \
                         resuming after its creation time"
                    )
                });
                return Ok((offset, page, start));
            }
            None if !anchored || offset == 0 => return Ok((offset, page, 0)),
            None => {}
        }
        api.progress.suspend(|| {
            eprintln!("{resource}: objects were deleted in Clerk meanwhile; stepping back a page")
        });
        offset = offset.saturating_sub(page_size);
    }
}

/// Where the new objects of a page start.
#[derive(Debug, PartialEq, Eq)]
enum Resume {
    /// Just after the last object written, found in the page.
    After(usize),
    /// That object is gone, but the page starts at or before its `created_at`: just after the
    /// last object created before it (the listing is ordered by `created_at`).
    AfterTime(usize),
}

/// Where the new objects of `objects` start, or `None` if the page starts after the cursor's
/// last object (or there is none).
fn resume_at(objects: &[Box<RawValue>], cursor: &Cursor) -> Option<Resume> {
    let anchor = cursor.last_id.as_deref()?;
    if let Some(i) = objects
        .iter()
        .position(|o| object_id(o.get()).as_deref() == Some(anchor))
    {
        return Some(Resume::After(i + 1));
    }
    let time = cursor.last_created_at?;
    if created_at(objects.first()?)? > time {
        return None;
    }
    // Objects created in the anchor's millisecond are read again: the listing may order ties
    // either way, and re-reading is harmless.
    let last_before = objects
        .iter()
        .rposition(|o| created_at(o).is_some_and(|t| t < time));
    Some(Resume::AfterTime(last_before.map_or(0, |i| i + 1)))
}

/// An object's `created_at` (Unix ms), which orders the listings.
fn created_at(object: &RawValue) -> Option<i64> {
    #[derive(Deserialize)]
    struct CreatedAt {
        created_at: Option<i64>,
    }
    serde_json::from_str::<CreatedAt>(object.get())
        .ok()?
        .created_at
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
