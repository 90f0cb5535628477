# The kubetwin command in a small image, for `kubetwin sweep --emit-job` (and, later, the
# operator). Build: docker build -t ghcr.io/kubetwin/kubetwin:0.1.0 .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kubetwin

FROM debian:bookworm-slim
COPY --from=build /src/target/release/kubetwin /usr/local/bin/kubetwin
# A non-root user, as restricted Pod Security requires.
USER 65532:65532
ENTRYPOINT ["kubetwin"]
