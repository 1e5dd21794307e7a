# syntax=docker/dockerfile:1
# Switchboard container image.
#
#   docker build -t switchboard:0.1.0 .
#
# Build stage: the release binary from the locked dependency graph. No protoc is
# needed (the contract is compiled in pure Rust by build.rs). The cache mounts keep
# the cargo registry and target directory between builds (BuildKit).
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/switchboard /usr/local/bin/switchboard \
    && mkdir -p /data

# Runtime stage: glibc and libgcc only (distroless cc, Debian 12 like the builder),
# no shell, non-root. The Kubernetes manifests (k8s/) probe it over gRPC health,
# so the image needs no health-check tool.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/switchboard /usr/local/bin/switchboard
# The journal and snapshots: a volume, so a container restart keeps every open
# conversation (k8s/base mounts the pod's volume claim here). Owned by the nonroot user.
COPY --from=builder --chown=65532:65532 /data /var/lib/switchboard
# 65532 is distroless's "nonroot" user; k8s/base runs the pod as the same uid.
USER 65532:65532
ENV SWITCHBOARD_LOG_FORMAT=json SWITCHBOARD_DATA_DIR=/var/lib/switchboard
VOLUME /var/lib/switchboard
# gRPC, Prometheus /metrics
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/switchboard"]
