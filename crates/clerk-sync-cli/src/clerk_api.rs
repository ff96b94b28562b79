//! The Clerk Backend API, as far as a backfill reads it: paginated listings, with Clerk's rate
//! limits honoured (429 waits `Retry-After`) and transient failures (5xx, a lost connection)
//! retried with exponential backoff.

use std::time::Duration;

use clerk_sync::backfill::Resource;
use indicatif::ProgressBar;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest wait for one `Retry-After` or backoff step.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// 429s in a row before giving up (a limit that never lifts is a problem to report).
const MAX_RATE_LIMITED: u32 = 30;

/// Why a listing could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The secret key was refused.
    #[error("Clerk refused CLERK_SECRET_KEY ({0}): check the key and its instance")]
    Unauthorized(StatusCode),
    /// Clerk answered an error that retrying will not fix.
    #[error("Clerk answered {status} for {path}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The request path.
        path: String,
        /// Clerk's error message, if it sent one.
        message: String,
    },
    /// Still failing after every retry.
    #[error("Clerk kept failing for {path} after {attempts} attempts: {last}")]
    GaveUp {
        /// The request path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The answer was not the listing we expected.
    #[error("Clerk's answer for {path} is not a listing: {reason}")]
    Shape {
        /// The request path.
        path: String,
        /// What did not fit.
        reason: String,
    },
}

impl ApiError {
    /// An answer for `path` that did not parse as what we asked for; by position only, since
    /// Clerk's answers hold personal data.
    fn shape(path: &str, err: serde_json::Error) -> Self {
        Self::Shape {
            path: path.to_owned(),
            reason: format!(
                "{:?} at line {}, column {}",
                err.classify(),
                err.line(),
                err.column()
            ),
        }
    }
}

/// One page of a listing.
pub struct Page {
    /// The objects, verbatim.
    pub objects: Vec<Box<RawValue>>,
    /// The listing's total, when Clerk sends it.
    pub total: Option<u64>,
}

/// A client of one Clerk instance's Backend API.
pub struct ClerkApi {
    http: reqwest::Client,
    base: String,
    secret_key: String,
    max_retries: u32,
    backoff: Duration,
    /// Where retries are announced (above the progress bar).
    pub progress: ProgressBar,
}

impl ClerkApi {
    /// A client of the API at `base` (`https://api.clerk.com`).
    pub fn new(base: &str, secret_key: &str, max_retries: u32, backoff: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .user_agent(concat!("clerk-sync/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a TLS backend"),
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
            max_retries,
            backoff,
            progress: ProgressBar::hidden(),
        }
    }

    /// The page of `resource` at `offset`, oldest first.
    pub async fn page(
        &self,
        resource: Resource,
        offset: u64,
        limit: u64,
    ) -> Result<Page, ApiError> {
        let query = [
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
            ("order_by", "+created_at".to_owned()),
        ];
        let body = self.get(resource.path(), &query).await?;
        // `/v1/users` answers a bare array; the other listings `{"data": [...], "total_count"}`.
        // (Checked by hand: serde's untagged enums cannot hold raw values.)
        #[derive(Deserialize)]
        struct Paginated {
            data: Vec<Box<RawValue>>,
            total_count: Option<u64>,
        }
        let shape = |err| ApiError::shape(resource.path(), err);
        Ok(if body.trim_start().starts_with('[') {
            Page {
                objects: serde_json::from_str(&body).map_err(shape)?,
                total: None,
            }
        } else {
            let page: Paginated = serde_json::from_str(&body).map_err(shape)?;
            Page {
                objects: page.data,
                total: page.total_count,
            }
        })
    }

    /// How many users the instance has (`/v1/users` pages carry no total).
    pub async fn user_count(&self) -> Result<u64, ApiError> {
        #[derive(Deserialize)]
        struct Count {
            total_count: u64,
        }
        let body = self.get("/v1/users/count", &[]).await?;
        serde_json::from_str::<Count>(&body)
            .map(|c| c.total_count)
            .map_err(|err| ApiError::shape("/v1/users/count", err))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, ApiError> {
        let url = format!("{}{path}", self.base);
        let (mut failures, mut rate_limited) = (0u32, 0u32);
        loop {
            let sent = self
                .http
                .get(&url)
                .bearer_auth(&self.secret_key)
                .query(query)
                .send()
                .await;
            let last = match sent {
                Ok(response) if response.status().is_success() => match response.text().await {
                    Ok(body) => return Ok(body),
                    Err(err) => format!("the body was cut off: {err}"),
                },
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    rate_limited += 1;
                    if rate_limited > MAX_RATE_LIMITED {
                        return Err(ApiError::GaveUp {
                            path: path.to_owned(),
                            attempts: rate_limited,
                            last: "429 Too Many Requests".to_owned(),
                        });
                    }
                    let wait = retry_after(&response).unwrap_or(Duration::from_secs(1));
                    self.announce(format!(
                        "Clerk rate limit (429) on {path}: waiting {:.1} s as Retry-After asks",
                        wait.as_secs_f64()
                    ));
                    rocket::tokio::time::sleep(wait).await;
                    continue;
                }
                Ok(response) if response.status().is_server_error() => {
                    format!("{}", response.status())
                }
                Ok(response) => {
                    let status = response.status();
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        return Err(ApiError::Unauthorized(status));
                    }
                    let message = clerk_message(&response.text().await.unwrap_or_default());
                    return Err(ApiError::Status {
                        status,
                        path: path.to_owned(),
                        message,
                    });
                }
                // Connection refused, reset, timed out: worth retrying like a 5xx.
                Err(err) => err.to_string(),
            };
            failures += 1;
            if failures > self.max_retries {
                return Err(ApiError::GaveUp {
                    path: path.to_owned(),
                    attempts: failures,
                    last,
                });
            }
            let wait = (self.backoff * 2u32.saturating_pow(failures - 1)).min(MAX_WAIT);
            self.announce(format!(
                "Clerk failed on {path} ({last}); retry {failures} of {} in {:.1} s",
                self.max_retries,
                wait.as_secs_f64()
            ));
            rocket::tokio::time::sleep(wait).await;
        }
    }

    fn announce(&self, message: String) {
        self.progress.suspend(|| eprintln!("{message}"));
    }
}

/// `Retry-After` in seconds (Clerk sends seconds; an HTTP date is read as "soon").
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds).min(MAX_WAIT))
}

/// The first message of a Clerk error body (`{"errors": [{"message": ..}]}`), else a snippet.
fn clerk_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ClerkError>,
    }
    #[derive(Deserialize)]
    struct ClerkError {
        message: String,
        #[serde(default)]
        long_message: Option<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(Errors { errors }) if !errors.is_empty() => {
            let first = &errors[0];
            first
                .long_message
                .clone()
                .unwrap_or_else(|| first.message.clone())
        }
        _ => body.chars().take(200).collect(),
    }
}
