# syntax=docker/dockerfile:1
#
# One image for both Warren services: the command picks `warren-ingest` (the default: API,
# ingest, live logs and the web app on :8080) or `warren-deliver` (the workers; health and
# metrics on :8081). Both take `serve` (the default), `migrate` and `healthcheck <url>`.
#
#   docker build -t warren .
#   docker run warren                              # warren-ingest serve
#   docker run warren warren-deliver               # warren-deliver serve
#   docker run --rm warren warren-ingest migrate   # migrations only (serve runs them too)
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.
# docs/operations.md lists every setting; docker-compose.yml runs the whole stack.

ARG NODE_IMAGE=node:20-bookworm-slim
# Some dependencies (socketioxide, engineioxide) need rustc 1.94 or newer; edition 2024
# alone would need 1.85.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- the web app -----------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build

# --- both binaries, release build -------------------------------------------------------
FROM ${RUST_IMAGE} AS rust
WORKDIR /src
# The whole workspace (.dockerignore keeps target/, node_modules and the like out): every
# member's manifest must be there for cargo to resolve the workspace, and `shared` embeds
# migrations/ at compile time.
COPY . .
# The registry, git checkouts and target/ live in cache mounts, so a rebuild after a small
# change recompiles only what changed; the binaries are copied out of the mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p warren-ingest -p warren-deliver \
    && mkdir -p /out \
    && cp target/release/warren-ingest target/release/warren-deliver /out/

# --- runtime ----------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: HTTPS receivers are verified against the system roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 warren \
    && useradd --system --uid 10001 --gid warren --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin warren

COPY --from=rust /out/warren-ingest /out/warren-deliver /usr/local/bin/
COPY --from=web /src/frontend/dist /usr/share/warren/web

# Only the settings that differ inside a container; everything else keeps its default
# (docs/operations.md). DATABASE_URL and AMQP_URL must be given at run time.
ENV WARREN_WEB_DIR=/usr/share/warren/web \
    WARREN_HTTP_ADDR=0.0.0.0:8080 \
    WARREN_DELIVER_HTTP_ADDR=0.0.0.0:8081 \
    WARREN_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz \
    WARREN_LOG_FORMAT=json

WORKDIR /usr/share/warren
# Numeric, so orchestrators that insist on a non-root user (runAsNonRoot) can check it.
USER 10001:10001

# 8080: warren-ingest (web app, API, ingest, socket.io, /healthz, /readyz, /metrics).
# 8081: warren-deliver (/healthz, /readyz, /metrics).
EXPOSE 8080 8081

# SIGTERM (the default stop signal) makes warren-deliver stop consuming and finish the
# deliveries in flight for up to WARREN_SHUTDOWN_GRACE_SECS (30 s): give containers a stop
# timeout longer than that (compose: stop_grace_period).
STOPSIGNAL SIGTERM

# The binaries probe themselves; no curl in the image. For warren-deliver set
# WARREN_HEALTHCHECK_URL=http://127.0.0.1:8081/healthz (docker-compose.yml sets its own).
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "exec warren-ingest healthcheck \"$WARREN_HEALTHCHECK_URL\""]

CMD ["warren-ingest", "serve"]
