# relaybench container image: build in a full Rust image, run from a slim Debian with only
# CA certificates added (for TLS targets). Used by deploy/kubernetes/ to run shards.
#
#   docker build -t relaybench:latest .
#   docker run --rm relaybench:latest validate /scenarios/quickstart.toml

# ---- build stage -------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry cache mount (BuildKit) keeps downloaded crates across rebuilds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin relaybench \
 && strip target/release/relaybench

# ---- runtime stage -----------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home relaybench
COPY --from=build /src/target/release/relaybench /usr/local/bin/relaybench
COPY scenarios /scenarios
USER 10001
WORKDIR /home/relaybench
ENTRYPOINT ["relaybench"]
CMD ["--help"]
