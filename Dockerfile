# Build stage: compile the release binary (SQLite and the PostgreSQL client are compiled in).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo ./.cargo
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY openapi ./openapi
COPY benches ./benches
# The workspace member of project tasks (cargo xtask); not built here, but cargo reads its manifest.
COPY xtask ./xtask
RUN cargo build --release --locked && strip target/release/aftercare

# Runtime stage: a small Debian with CA certificates, running as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data aftercare \
    && mkdir -p /data && chown aftercare /data
COPY --from=build /src/target/release/aftercare /usr/local/bin/aftercare
ENV AFTERCARE__SERVER__BIND=0.0.0.0:8080 \
    AFTERCARE__DATA_DIR=/data
USER aftercare
VOLUME /data
EXPOSE 8080
# The binary checks itself: GET /readyz on AFTERCARE__SERVER__BIND (0.0.0.0 -> 127.0.0.1), exit 0 on 200,
# giving up after 2 s. No shell, curl or /dev/tcp needed (the slim image's /bin/sh is dash).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["aftercare", "healthcheck", "--timeout", "2"]
CMD ["aftercare", "serve"]
