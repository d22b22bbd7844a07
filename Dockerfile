# syntax=docker/dockerfile:1
#
# Arke IBC relayer.
#   docker build -t arke .
#   docker run -d --name arke \
#     -v /srv/arke/etc:/etc/arke:ro -v /srv/arke/data:/var/lib/arke \
#     -p 127.0.0.1:3001:3001 arke
# The pair file is /etc/arke/pair.toml (key_store_folder = "/var/lib/arke/keys"); for the health
# check and a published port it needs [telemetry] enabled = true, host = "0.0.0.0",
# allow_remote = true.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin arke \
    && install -m 0755 target/release/arke /usr/local/bin/arke

FROM debian:bookworm-slim
# ca-certificates follows Debian's security updates; pinning it would only pin old roots.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 arke \
    && useradd --system --uid 10001 --gid arke --home-dir /var/lib/arke --shell /usr/sbin/nologin arke \
    && mkdir -p /etc/arke /var/lib/arke/keys \
    && chown -R arke:arke /var/lib/arke \
    && chmod 0700 /var/lib/arke /var/lib/arke/keys
COPY --from=builder /usr/local/bin/arke /usr/local/bin/arke
USER 10001:10001
WORKDIR /var/lib/arke
ENV ARKE_LOG_FORMAT=json
VOLUME ["/etc/arke", "/var/lib/arke"]
EXPOSE 3001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["arke", "health", "--url", "http://127.0.0.1:3001/health"]
ENTRYPOINT ["arke"]
CMD ["start", "--config", "/etc/arke/pair.toml"]
