# syntax=docker/dockerfile:1
# The kubetwin command in a small non-root image: `kubetwin operator` (the Helm chart in
# charts/kubetwin runs it) and the pods of `kubetwin sweep --emit-job` (args
# `sweep /scenario/... --shard $(JOB_COMPLETION_INDEX)/N --output json`).
#
#   docker build -t ghcr.io/kubetwin/kubetwin:0.1.0 .
#
# The tag must match the chart's appVersion and `kubetwin sweep --image`'s default (the
# crate's version).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; target/ is not part of the
# layer, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin kubetwin \
    && cp target/release/kubetwin /usr/local/bin/kubetwin

# glibc and libgcc (what a Rust binary links), CA certificates (for an https Prometheus),
# no shell, user 65532 "nonroot" with a writable home as workdir.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/kubetwin /usr/local/bin/kubetwin
# Numeric, so that runAsNonRoot can verify it without an /etc/passwd lookup.
USER 65532:65532
ENTRYPOINT ["kubetwin"]
