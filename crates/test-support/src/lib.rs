//! What the workspace's integration tests share: fixtures, signing, an app per test database, a
//! stoppable TCP proxy, and servers run as child processes (the binary is the caller's: a test
//! names its own package's binaries with `env!("CARGO_BIN_EXE_...")`).
#![allow(missing_docs, clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clerk_sync::config::Settings;
use clerk_sync::db;
use clerk_sync::delivery::Delivery;
use clerk_sync::svix::{self, SignedHeaders, SigningKey, Verifier};
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::task::JoinHandle;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

/// The endpoint secret the test app is configured with.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another valid secret (a rotation partner, or the wrong one).
pub const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The library crate, whose `fixtures/clerk` holds Clerk's published payloads.
pub const FIXTURES_CRATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../clerk-sync");

pub fn fixture(path: &str) -> String {
    let file = format!("{}/fixtures/clerk/{path}", FIXTURES_CRATE);
    std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{file}: {err}"))
}

/// Every fixture file, relative to `fixtures/clerk`.
pub fn all_fixture_files() -> Vec<String> {
    let root = format!("{FIXTURES_CRATE}/fixtures/clerk");
    let mut files = Vec::new();
    for dir in ["", "variants", "variants/dashboard-catalog"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                files.push(if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    files.sort();
    files
}

/// How long a test app waits for a pooled connection, or for its commit, before answering 503:
/// long enough that a machine busy with other work (a build, the other tests) never turns a
/// delivery into a 503. The tests about timeouts set their own.
pub const PATIENT: Duration = Duration::from_secs(30);

/// Settings for a test app: the development defaults, with [`PATIENT`] timeouts.
pub fn settings(secrets: &str) -> Settings {
    let mut settings = Settings::new(Verifier::from_secrets(secrets).unwrap());
    settings.database.acquire_timeout = PATIENT;
    settings.batch.request_timeout = PATIENT;
    settings
}

/// [`settings`] for a test that takes the database away: a request gives up on the pool after
/// half a second, so the outage is answered 503 at once rather than after [`PATIENT`].
pub fn settings_without_patience(secrets: &str) -> Settings {
    let mut settings = settings(secrets);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings
}

pub fn new_svix_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("msg_test_{nanos}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn now_seconds() -> u64 {
    svix::unix_seconds(SystemTime::now())
}

/// `svix-id`, `svix-timestamp` and `svix-signature` for `body`, signed with `secret` at `timestamp`.
pub fn signed_headers(
    secret: &str,
    id: &str,
    timestamp: u64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let key = SigningKey::parse(secret).unwrap();
    let timestamp = timestamp.to_string();
    let signature = svix::sign(&key, id, &timestamp, body);
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", timestamp),
        ("svix-signature", signature),
    ]
}

/// A delivery of `body` as the guard would make it: signed with [`SECRET`] now, then verified.
/// The only way to a `Delivery` from a webhook without HTTP is through the verifier.
pub fn verified_delivery(svix_id: &str, body: &str) -> Delivery {
    let headers = signed_headers(SECRET, svix_id, now_seconds(), body.as_bytes());
    let headers = SignedHeaders {
        id: &headers[0].1,
        timestamp: &headers[1].1,
        signature: &headers[2].1,
    };
    let verifier = Verifier::from_secrets(SECRET).unwrap();
    let checked = verifier.check_headers(&headers, SystemTime::now()).unwrap();
    let verified = verifier.accept(&checked, body.as_bytes().to_vec()).unwrap();
    Delivery::from_verified(verified).unwrap()
}

/// The app under test, and a pool straight to its database for assertions.
pub struct TestApp {
    pub client: Client,
    pub db: PgPool,
}

impl TestApp {
    pub async fn spawn(options: PgConnectOptions) -> Self {
        Self::with_settings(options, settings(SECRET)).await
    }

    pub async fn with_settings(options: PgConnectOptions, settings: Settings) -> Self {
        let app_pool = db::pool_options(&settings.database).connect_lazy_with(options.clone());
        Self::launch(options, clerk_sync::rocket(app_pool, settings)).await
    }

    /// Launches `rocket` with a local client, and a pool straight to `options` for assertions.
    pub async fn launch(options: PgConnectOptions, rocket: rocket::Rocket<rocket::Build>) -> Self {
        let client = Client::tracked(rocket).await.expect("the app launches");
        let db = PgPool::connect_with(options)
            .await
            .expect("the test database");
        Self { client, db }
    }

    /// POSTs `body` to the webhook with exactly `headers` and a JSON content type.
    pub async fn post(
        &self,
        body: impl Into<Vec<u8>>,
        headers: &[(&'static str, String)],
    ) -> LocalResponse<'_> {
        let mut request = self
            .client
            .post("/webhooks/clerk")
            .header(ContentType::JSON)
            .body(body.into());
        for (name, value) in headers {
            request = request.header(Header::new(*name, value.clone()));
        }
        request.dispatch().await
    }

    /// Delivers `body` as Clerk would: a fresh svix-id, signed now.
    pub async fn deliver(&self, body: &str) -> LocalResponse<'_> {
        self.deliver_as(&new_svix_id(), body).await
    }

    /// Delivers `body` under a given svix-id (a Svix retry reuses it).
    pub async fn deliver_as(&self, svix_id: &str, body: &str) -> LocalResponse<'_> {
        let headers = signed_headers(SECRET, svix_id, now_seconds(), body.as_bytes());
        self.post(body, &headers).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }

    pub async fn ledger_rows(&self) -> i64 {
        self.count("select count(*) from clerk.webhook_events")
            .await
    }

    pub async fn user_rows(&self) -> i64 {
        self.count("select count(*) from clerk.users").await
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_status(response: LocalResponse<'_>, status: u16) -> Value {
    let got = response.status().code;
    let body = response.into_string().await.unwrap_or_default();
    assert_eq!(got, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// `body` with its envelope sent at `millis`. The published examples are from 2024, older than
/// the deduplication window, which sends their batches through a transaction; a delivery sent
/// now (`now_millis()`) is what live traffic is, and a batch of such users is applied at once.
pub fn sent_at(body: &str, millis: i64) -> String {
    let mut envelope: Value = serde_json::from_str(body).unwrap();
    envelope["timestamp"] = json!(millis);
    envelope.to_string()
}

/// `options` with READ COMMITTED as its sessions' default, whatever the database's: what a batch
/// applied at once (`clerk_sync::apply_at_once`) needs.
pub fn read_committed(options: PgConnectOptions) -> PgConnectOptions {
    // The startup `options` split on spaces unless escaped.
    options.options([("default_transaction_isolation", r"read\ committed")])
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    now_seconds() as i64 * 1000
}

/// A `user.*` envelope built on the published example, with the fields the tests vary.
pub fn user_event(event_type: &str, user_id: &str, updated_at: i64, last_name: &str) -> String {
    let mut event: Value = serde_json::from_str(&fixture("user.updated.json")).unwrap();
    event["type"] = json!(event_type);
    let data = &mut event["data"];
    data["id"] = json!(user_id);
    data["updated_at"] = json!(updated_at);
    data["last_name"] = json!(last_name);
    // The primary address is deliberately not the first one.
    data["primary_email_address_id"] = json!("idn_primary");
    data["email_addresses"] = json!([
        { "id": "idn_secondary", "object": "email_address", "email_address": "second@example.com" },
        { "id": "idn_primary", "object": "email_address", "email_address": "primary@example.com" },
    ]);
    event.to_string()
}

pub fn user_deleted(user_id: &str) -> String {
    let mut event: Value = serde_json::from_str(&fixture("user.deleted.json")).unwrap();
    event["data"]["id"] = json!(user_id);
    event.to_string()
}

/// A TCP proxy to Postgres that a test can cut, to take the database away from the app.
pub struct Proxy {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), upstream)
    }

    fn serve(listener: TcpListener, upstream: SocketAddr) -> Self {
        let addr = listener.local_addr().unwrap();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let conns = tasks.clone();
        let accept = rocket::tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = rocket::tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = rocket::tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                            .await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { addr, tasks }
    }

    /// Closes the listener and every proxied connection: the database is gone for the app.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// Where the test database listens.
pub async fn postgres_addr(options: &PgConnectOptions) -> SocketAddr {
    let host = options.get_host();
    let host = if host.starts_with('/') {
        "127.0.0.1"
    } else {
        host
    };
    rocket::tokio::net::lookup_host((host, options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// A fixture with `edits` merged into its `data` (objects recursively, anything else replaced)
/// and, if given, the envelope timestamp set.
pub fn event(file: &str, edits: Value, timestamp: Option<i64>) -> String {
    fn merge(target: &mut Value, edits: Value) {
        match (target, edits) {
            (Value::Object(target), Value::Object(edits)) => {
                for (key, value) in edits {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
            (target, edits) => *target = edits,
        }
    }
    let mut envelope: Value = serde_json::from_str(&fixture(file)).unwrap();
    merge(&mut envelope["data"], edits);
    if let Some(timestamp) = timestamp {
        envelope["timestamp"] = json!(timestamp);
    }
    envelope.to_string()
}

impl TestApp {
    /// The sync stage with your hooks, on a bare Rocket.
    pub async fn with_hooks(
        options: PgConnectOptions,
        settings: Settings,
        hooks: impl clerk_sync::hooks::Hooks,
    ) -> Self {
        let app_pool = db::pool_options(&settings.database).connect_lazy_with(options.clone());
        let stage = clerk_sync::ClerkSync::new(app_pool, settings)
            .hooks(hooks)
            .stage();
        Self::launch(options, rocket::build().attach(stage)).await
    }

    /// Delivers all `bodies` at once (svix-ids given), and returns the statuses in order.
    pub async fn deliver_concurrently(&self, deliveries: &[(String, String)]) -> Vec<(u16, Value)> {
        let requests = deliveries.iter().map(|(svix_id, body)| async move {
            let response = self.deliver_as(svix_id, body).await;
            let status = response.status().code;
            let body = response.into_string().await.unwrap_or_default();
            (status, serde_json::from_str(&body).unwrap_or(Value::Null))
        });
        rocket::futures::future::join_all(requests).await
    }
}

/// An app served on a bound port in this process, as Rocket serves it in production.
pub struct Served {
    pub port: u16,
    pub shutdown: rocket::Shutdown,
}

impl Served {
    /// Launches on a port of the kernel's choosing (so parallel tests never race for one) and
    /// learns which from Rocket's liftoff.
    pub async fn start(rocket: rocket::Rocket<rocket::Build>) -> Self {
        let figment = rocket
            .figment()
            .clone()
            .merge(("port", 0))
            .merge(("address", "127.0.0.1"))
            .merge(("log_level", "off"));
        let (bound, port) = rocket::tokio::sync::oneshot::channel();
        let bound = std::sync::Mutex::new(Some(bound));
        let rocket = rocket
            .configure(figment)
            .attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
                Box::pin(async move {
                    if let Some(bound) = bound.lock().unwrap().take() {
                        let _ = bound.send(rocket.config().port);
                    }
                })
            }))
            .ignite()
            .await
            .expect("the app ignites");
        let shutdown = rocket.shutdown();
        rocket::tokio::spawn(rocket.launch());
        let port = port.await.expect("the app lifts off");
        assert_ne!(port, 0);
        Self { port, shutdown }
    }
}

/// One HTTP/1.1 request over a fresh connection; `None` if the connection failed or closed
/// without a response.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Option<(u16, String)> {
    use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// Signs and POSTs `body` to the webhook on `port`.
pub async fn post_signed(port: u16, svix_id: &str, body: &str) -> Option<(u16, String)> {
    let mut headers = signed_headers(SECRET, svix_id, now_seconds(), body.as_bytes());
    headers.push(("content-type", "application/json".to_owned()));
    http(port, "POST", "/webhooks/clerk", &headers, body.as_bytes()).await
}

impl Proxy {
    /// A proxy on a given address (to bring a cut one back where the app expects it).
    pub async fn start_on(addr: SocketAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, upstream)
    }
}

/// The URL of a test database, for a child process: the user, address and port of the server
/// named by `DATABASE_URL` (any of them may differ from the defaults).
pub async fn database_url(options: &PgConnectOptions) -> String {
    // A socket address prints its port, and brackets an IPv6 address.
    format!(
        "postgres://{}@{}/{}",
        options.get_username(),
        postgres_addr(options).await,
        options.get_database().unwrap()
    )
}

/// A server binary, started as an operator would; killed when dropped.
pub struct Standalone {
    pub child: std::process::Child,
    /// Known once [`Standalone::ready`] returned.
    pub port: u16,
    log: std::path::PathBuf,
    owned_log: bool,
}

impl Standalone {
    /// `command` with a clean environment and `env` set.
    pub fn command_of(
        mut command: std::process::Command,
        env: &[(&str, &str)],
    ) -> std::process::Command {
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    /// Starts `program` (a server binary, with its arguments) against `url`, with its output
    /// going to `log` if given. It binds a port of the kernel's choosing (`ROCKET_PORT=0`);
    /// [`Standalone::ready`] reads which from its output, so parallel tests can never race each
    /// other for a port.
    pub fn spawn(program: std::process::Command, url: &str, log: Option<&std::path::Path>) -> Self {
        Self::spawn_with(program, url, log, &[])
    }

    /// [`Standalone::spawn`] with more environment variables.
    pub fn spawn_with(
        program: std::process::Command,
        url: &str,
        log: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> Self {
        let patient = PATIENT.as_millis().to_string();
        let mut command = Self::command_of(
            program,
            &[
                ("DATABASE_URL", url),
                ("CLERK_WEBHOOK_SIGNING_SECRET", SECRET),
                ("ROCKET_PORT", "0"),
                ("ROCKET_ADDRESS", "127.0.0.1"),
                // As `settings`: a busy machine must not turn a delivery into a 503.
                ("DATABASE_ACQUIRE_TIMEOUT_MS", &patient),
                ("CLERK_SYNC_REQUEST_TIMEOUT_MS", &patient),
            ],
        );
        command.envs(env.iter().copied());
        let (log, owned_log) = match log {
            Some(path) => (path.to_owned(), false),
            None => (
                std::env::temp_dir().join(format!("clerk-sync-{}.log", new_svix_id())),
                true,
            ),
        };
        let file = std::fs::File::create(&log).unwrap();
        command.stdout(file.try_clone().unwrap()).stderr(file);
        Self {
            child: command.spawn().unwrap(),
            port: 0,
            log,
            owned_log,
        }
    }

    /// Waits for the launch line that names the port, then until `/healthz` answers 200.
    pub async fn ready(&mut self) {
        const LAUNCHED: &str = "Rocket has launched from http://127.0.0.1:";
        let started = std::time::Instant::now();
        while self.port == 0 {
            let output = std::fs::read_to_string(&self.log).unwrap_or_default();
            // Only a whole line: the port's digits may still be being written.
            if let Some((port, _)) = output
                .split(LAUNCHED)
                .nth(1)
                .and_then(|rest| rest.split_once('\n'))
            {
                // The digits end the text line, or the JSON line's message string.
                let digits: String = port.chars().take_while(char::is_ascii_digit).collect();
                self.port = digits.parse().unwrap();
                break;
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the server exited with {exit}:\n{output}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not come up:\n{output}"
            );
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while http(self.port, "GET", "/healthz", &[], b"")
            .await
            .map(|(status, _)| status)
            != Some(200)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not come up"
            );
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`TERM`, `INT`) the way an orchestrator or a terminal would.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owned_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// What a run of the `clerk-sync` tool printed, and its exit code.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args...` with a clean environment and `env`, off the async runtime (so an
/// app served by this test keeps answering).
pub async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Standalone::command_of(std::process::Command::new(program), env);
    command.args(args);
    let output = rocket::tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Another transaction holding `clerk.users`: writes to it wait until the returned transaction
/// ends (roll it back to let them through).
pub async fn hold_users_table(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("lock table clerk.users in access exclusive mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    blocker
}

/// Waits until a session of the test database waits for a lock (a delivery stuck behind
/// [`hold_users_table`]), however slow the machine; panics after [`PATIENT`].
pub async fn wait_for_a_lock_wait(pool: &PgPool) {
    let started = std::time::Instant::now();
    while sqlx::query_scalar::<_, i64>(
        "select count(*) from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
        == 0
    {
        assert!(started.elapsed() < PATIENT, "no delivery reached the lock");
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An RSA key pair for signing Clerk-like session tokens in tests: the private key as PKCS#1 DER
/// (what `jsonwebtoken::EncodingKey::from_rsa_der` takes) and the public key as the SPKI PEM the
/// Clerk Dashboard shows (`CLERK_JWT_KEY`).
#[derive(Debug, Clone)]
pub struct RsaKeys {
    pub private_der: Vec<u8>,
    pub public_pem: String,
}

impl RsaKeys {
    /// A fresh 2048-bit pair from the `openssl` command (about 0.1 s; an RSA crate's key
    /// generation in a debug build takes seconds). Call it once per test binary.
    pub fn generate() -> Self {
        let private_pem = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            b"",
        );
        let private_der = openssl(&["rsa", "-traditional", "-outform", "DER"], &private_pem);
        let public_pem = openssl(&["pkey", "-pubout"], &private_pem);
        Self {
            private_der,
            public_pem: String::from_utf8(public_pem).expect("PEM is ASCII"),
        }
    }

    /// The public key's modulus and exponent as big-endian bytes without leading zeros: the `n`
    /// and `e` of a JSON Web Key once base64url-encoded. `openssl` prints both (in hex and in
    /// decimal), so no DER is read here.
    pub fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        let text = openssl(
            &["rsa", "-pubin", "-noout", "-modulus", "-text"],
            self.public_pem.as_bytes(),
        );
        let text = String::from_utf8(text).expect("openssl prints text");
        let modulus = text
            .lines()
            .find_map(|line| line.strip_prefix("Modulus="))
            .expect("openssl prints Modulus=<hex>");
        let exponent: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix("Exponent: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|decimal| decimal.parse().ok())
            .expect("openssl prints Exponent: <decimal>");
        let n: Vec<u8> = (0..modulus.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&modulus[i..i + 2], 16).expect("hex"))
            .skip_while(|&b| b == 0)
            .collect();
        let e: Vec<u8> = exponent
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        (n, e)
    }
}

/// Runs `openssl` with `input` on its stdin; its stdout.
fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl command, to make test keys");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("openssl's stdin");
    let output = child.wait_with_output().expect("openssl ran");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
