# clerk-sync as a container image: the `clerk-sync` binary (service and tools) on distroless.
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
# Cargo features of the binary: `--build-arg FEATURES="cli otlp"` adds OpenTelemetry traces.
ARG FEATURES=cli

# Dependencies first, in a layer of their own that only Cargo.toml and Cargo.lock invalidate:
# every target the manifest names gets an empty stand-in, so cargo compiles the dependencies
# without our sources.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin/clerk-sync benches \
    && echo 'fn main() {}' > src/bin/clerk-sync/main.rs \
    && echo 'fn main() {}' > src/bin/standalone.rs \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > benches/verify.rs \
    && echo 'fn main() {}' > benches/parse.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --no-default-features --features "$FEATURES" --bin clerk-sync

# The real build. The stubs' own artifacts go, and the sources are touched, so cargo never takes
# a stub for up to date (COPY keeps the sources' older modification times).
COPY src ./src
COPY migrations ./migrations
COPY fixtures ./fixtures
RUN rm -rf target/release/.fingerprint/clerk-sync-* target/release/deps/clerk_sync-* \
        target/release/deps/libclerk_sync-* \
    && find src -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --no-default-features --features "$FEATURES" --bin clerk-sync \
    && cp target/release/clerk-sync /usr/local/bin/clerk-sync

# The runtime: glibc, libgcc, CA certificates and nothing else (no shell, no package manager);
# `:nonroot` runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/clerk-sync /usr/local/bin/clerk-sync
USER 65532:65532
# Listen on every interface of the container, on the port published below. DATABASE_URL and
# CLERK_WEBHOOK_SIGNING_SECRET come from the environment at run time (see .env.example).
ENV ROCKET_ADDRESS=0.0.0.0 ROCKET_PORT=8000
EXPOSE 8000
# Our own probe of GET /healthz (distroless has no shell or curl): exit 0 on 200, 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/clerk-sync", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/clerk-sync"]
CMD ["serve"]
