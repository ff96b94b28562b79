# The app as a container image on distroless: the app's `server` (this template's `src/`, with
# the Clerk sync) as the entry point, and the `clerk-sync` tool beside it (healthcheck, send,
# backfill, replay, prune, stats).
#
#   docker build -t clerk-sync .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=... -e CLERK_WEBHOOK_SIGNING_SECRET=... clerk-sync
#
# Or the whole stack with Postgres: `docker compose up --build` (compose.yaml). CI builds and
# runs this file unchanged with podman (scripts/container-check.sh).

# The builder. 1.95.0: at least the highest `rust-version` among the locked packages (1.89:
# clerk-sync itself and rocket 0.5.2; `cargo metadata --format-version 1 --locked`), and the
# toolchain CI builds this file with, so the version named here is the one tested. `-bookworm`
# pins the Debian release: its glibc is the one distroless cc-debian12 ships.
FROM docker.io/library/rust:1.95.0-slim-bookworm AS builder
WORKDIR /app

# No symbols in the shipped binary: a smaller image, same code. Set before the first build: a
# profile setting is part of every crate's fingerprint.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
# Cargo features: `--build-arg FEATURES=clerk-sync/otlp` adds OpenTelemetry traces.
ARG FEATURES=""
# The two binaries, whatever the app's package is called.
ARG BINS="--workspace --bin server --bin clerk-sync"

# Dependencies first, in a layer of their own that only the manifests, Cargo.lock and the
# benches and examples the manifests name invalidate: cargo must find every target a manifest
# names, so those few files come as they are, and the sources get empty stand-ins.
COPY Cargo.toml Cargo.lock ./
# The library's build script too: its manifest names it. (It only sets SQLX_OFFLINE; the query
# data in crates/clerk-sync/.sqlx comes with the sources below, no database needed.)
COPY crates/clerk-sync/Cargo.toml crates/clerk-sync/build.rs crates/clerk-sync/
COPY crates/clerk-sync/benches crates/clerk-sync/benches
COPY crates/clerk-sync/examples crates/clerk-sync/examples
COPY crates/clerk-sync-cli/Cargo.toml crates/clerk-sync-cli/
COPY crates/test-support/Cargo.toml crates/test-support/
RUN for main in src/main.rs src/bin/shuttle.rs crates/clerk-sync-cli/src/main.rs; do \
        mkdir -p "$(dirname "$main")" && echo 'fn main() {}' > "$main"; \
    done \
    && for lib in src/lib.rs crates/clerk-sync/src/lib.rs crates/test-support/src/lib.rs; do \
        mkdir -p "$(dirname "$lib")" && touch "$lib"; \
    done \
    && cargo build --release --locked --features "$FEATURES" $BINS

# The real build. The stubs' own artifacts go, and the sources are touched, so cargo never takes
# a stub for up to date (COPY keeps the sources' older modification times).
COPY src ./src
COPY migrations ./migrations
COPY crates ./crates
RUN rm -rf target/release/.fingerprint/clerk-sync* target/release/.fingerprint/clerk_sync* \
        target/release/deps/*clerk_sync* target/release/deps/app-* target/release/deps/libapp-* \
        target/release/.fingerprint/app-* \
    && find src crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --features "$FEATURES" $BINS \
    && cp target/release/server target/release/clerk-sync /usr/local/bin/

# The runtime: glibc, libgcc, CA certificates and nothing else (no shell, no package manager);
# `:nonroot` runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/server /usr/local/bin/clerk-sync /usr/local/bin/
USER 65532:65532
# Listen on every interface of the container, on the port published below. DATABASE_URL and
# CLERK_WEBHOOK_SIGNING_SECRET come from the environment at run time (see .env.example).
ENV ROCKET_ADDRESS=0.0.0.0 ROCKET_PORT=8000
EXPOSE 8000
# Our own probe of GET /healthz (distroless has no shell or curl): exit 0 on 200, 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/clerk-sync", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/server"]
