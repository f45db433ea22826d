# syntax=docker/dockerfile:1

# mlgate container image.
#
#   docker build --platform linux/amd64 \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t mlgate:dev .
#
#   # The example registry (examples/mlgate.yaml and its local MLflow store):
#   docker run --rm -p 8080:8080 -v "$PWD/examples:/etc/mlgate:ro" mlgate:dev
#
#   # An MLflow server, with a named volume keeping downloads across runs:
#   docker run --rm -p 8080:8080 -v "$PWD/my-config:/etc/mlgate:ro" \
#     -v mlgate-cache:/var/cache/mlgate \
#     -e MLFLOW_TRACKING_URI=https://mlflow.example.com -e MLFLOW_TRACKING_TOKEN \
#     mlgate:dev
#
# Stages:
#   onnxruntime  fetches ONNX Runtime with scripts/install-onnxruntime.sh, which
#                holds the version and both sha256 pins (linux/amd64 only).
#   build        compiles mlgate with cgo against glibc (Debian 13).
#   runtime      distroless cc on Debian 13: glibc, libstdc++ and libgcc_s,
#                which libonnxruntime.so.1 links; no shell, no package manager.
# The build and runtime stages are both Debian 13, so the binary never needs
# a newer glibc than the image has.
#
# Runtime layout:
#   /usr/local/bin/mlgate               on PATH; the ENTRYPOINT.
#   /usr/local/lib/libonnxruntime.so.1  mlgate loads ../lib/libonnxruntime.so.1
#                                       relative to its binary, so no
#                                       MLGATE_ONNXRUNTIME_LIB is needed.
#   /etc/mlgate/mlgate.yaml             the config file: mount it.
#   /var/cache/mlgate                   downloaded model versions: a volume
#                                       owned by the runtime user.
#
# MLGATE_LISTEN, MLGATE_ADMIN_LISTEN and MLGATE_CACHE_DIR are set below;
# like every MLGATE_* variable they win over the config file, so `listen`,
# `admin_listen` and `cache_dir` in a mounted mlgate.yaml have no effect in
# this image unless the variables are overridden (docker run -e
# MLGATE_LISTEN=...). MLflow settings come from the standard variables
# (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN or
# MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_S3_ENDPOINT_URL, AWS_*).
#
# Scoring, health and metrics are on port 8080 on all interfaces. The admin
# endpoints (/admin/*, /debug/pprof/) are on 127.0.0.1:8081, inside the
# container only. To reach them from outside, publish them with an admin
# token, which mlgate then requires (it refuses to start on a non-loopback
# admin address without one), ideally from a secret file:
#
#   docker run ... -p 8081:8081 -e MLGATE_ADMIN_LISTEN=127.0.0.1:8081 \
#     -e MLGATE_ADMIN_TOKEN_FILE=/run/secrets/mlgate-admin-token \
#     -v "$PWD/admin-token:/run/secrets/mlgate-admin-token:ro" mlgate:dev

FROM node:24-trixie-slim AS onnxruntime
WORKDIR /src
COPY scripts/install-onnxruntime.sh scripts/
RUN bash scripts/install-onnxruntime.sh \
 && install -D -m 0644 .cache/onnxruntime/*/libonnxruntime.so.1 /out/lib/libonnxruntime.so.1

FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/mlgate ./cmd/mlgate \
 && mkdir -p /out/cache

FROM gcr.io/distroless/cc-debian13:nonroot AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mlgate" \
      org.opencontainers.image.description="Serves MLflow models:/name@alias through ONNX Runtime with MLflow's scoring protocol" \
      org.opencontainers.image.source="https://github.com/mlgate/mlgate" \
      org.opencontainers.image.url="https://github.com/mlgate/mlgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian13:nonroot"

COPY --from=onnxruntime /out/lib/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/mlgate /usr/local/bin/mlgate
COPY --from=build --chown=65532:65532 /out/cache /var/cache/mlgate

ENV MLGATE_LISTEN=0.0.0.0:8080 \
    MLGATE_ADMIN_LISTEN=127.0.0.1:8081 \
    MLGATE_CACHE_DIR=/var/cache/mlgate
VOLUME ["/var/cache/mlgate"]
EXPOSE 8080

# 65532 is distroless's "nonroot"; numeric so that Kubernetes can check
# runAsNonRoot without resolving a name.
USER 65532:65532

# Healthy means ready: every route's primary models loaded and warm, and
# not draining. The image has no curl, so mlgate probes itself: with the
# configuration serve reads, it finds the listener's port (MLGATE_LISTEN)
# and scheme (https with a TLS certificate).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["mlgate", "healthcheck", "--config", "/etc/mlgate/mlgate.yaml"]

ENTRYPOINT ["mlgate"]
CMD ["serve", "--config", "/etc/mlgate/mlgate.yaml"]
