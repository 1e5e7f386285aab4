# threadhold: build, then a small runtime image running as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin threadhold

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --uid 10001 threadhold \
    && mkdir -p /data && chown threadhold /data
COPY --from=build /src/target/release/threadhold /usr/local/bin/threadhold
USER threadhold
VOLUME /data
ENV THREADHOLD_DATA=/data THREADHOLD_LISTEN=0.0.0.0:8787 THREADHOLD_LOG_FORMAT=json
EXPOSE 8787
# healthcheck asks the configured listen address (THREADHOLD_LISTEN, on loopback).
HEALTHCHECK --interval=30s --timeout=5s CMD ["threadhold", "healthcheck"]
ENTRYPOINT ["threadhold"]
CMD ["serve"]
