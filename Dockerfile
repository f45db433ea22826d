# syntax=docker/dockerfile:1

# mlgate container image, for linux/amd64 and linux/arm64.
#
#   make image                                  # both platforms (docker buildx)
#   make image IMAGE=registry.example.com/mlgate:1.0 IMAGE_PUSH=true
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t registry.example.com/mlgate:dev --push .
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
# Build arguments:
#   GOLANG_IMAGE, NODE_IMAGE, RUNTIME_IMAGE  the base images, each pinned by the
#                          digest of its multi-platform index (below). Point
#                          them at a mirror with the same digests if Docker Hub
#                          or gcr.io is out of reach.
#   GOPROXY                Go module proxy (default https://proxy.golang.org,direct).
#   NPM_CONFIG_REGISTRY    npm registry the ONNX Runtime tarball comes from
#                          (default https://registry.npmjs.org/). The tarball and
#                          the library are checked against the sha256 sums in
#                          scripts/install-onnxruntime.sh, whatever the mirror.
#   VERSION, REVISION      what `mlgate version` and the OCI labels report.
#
# Where the digests come from (refresh all three with `make image-digests`,
# which asks the registries through `docker buildx imagetools inspect`):
#   golang:1.26-trixie           Go 1.26.7, index digest as published in
#                                docker-library/repo-info
#                                (repos/golang/remote/1.26-trixie.md, commit
#                                c4de0540f38eadbec61589627dfc2a89988445b9).
#   node:24-trixie-slim          Node 24.19.0, docker-library/repo-info
#                                (repos/node/remote/24-trixie-slim.md, commit
#                                d45a2996653182e785789cd05d5d234bd0b5c927).
#   distroless/cc-debian13:nonroot
#                                not listed in repo-info; the index digest that
#                                public multi-platform Dockerfiles pin for this
#                                tag. Run `make image-digests` before a release.
#
# Stages:
#   onnxruntime  runs on the build machine: fetches the target platform's ONNX
#                Runtime with scripts/install-onnxruntime.sh, which holds the
#                version and the sha256 pins.
#   build        runs on the build machine and cross-compiles mlgate for the
#                target with cgo (a Debian cross gcc when the target differs),
#                against glibc (Debian 13), stripped (-s -w) and -trimpath.
#   runtime      distroless cc on Debian 13, of the target platform: glibc,
#                libstdc++ and libgcc_s, which libonnxruntime.so.1 links; no
#                shell, no package manager.
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
# endpoints (/admin/*, /debug/pprof/) are on 127.0.0.1:9091, inside the
# container only: port 8081 is left to the Open Inference Protocol's gRPC
# listener, where KServe expects it. To reach the admin endpoints from
# outside, publish them with an admin token, which mlgate then requires (it
# refuses to start on a non-loopback admin address without one), ideally
# from a secret file:
#
#   docker run ... -p 9091:9091 -e MLGATE_ADMIN_LISTEN=0.0.0.0:9091 \
#     -e MLGATE_ADMIN_TOKEN_FILE=/run/secrets/mlgate-admin-token \
#     -v "$PWD/admin-token:/run/secrets/mlgate-admin-token:ro" mlgate:dev

ARG GOLANG_IMAGE=golang:1.26-trixie@sha256:0e214333a799b48cce126b20a906cbbcaacd04f55dd54aa22f050fbd9462965a
ARG NODE_IMAGE=node:24-trixie-slim@sha256:b622a0bf896a85c5b13b7973eaf3f06e909cf539576551a67724323a21da2b17
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot@sha256:e792ab3d241a468a4fd7519ddbbebe66b49b5f365771716ea688ad40b6c6f1c2

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS onnxruntime
ARG TARGETARCH
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org/
WORKDIR /src
COPY scripts/install-onnxruntime.sh scripts/
RUN bash scripts/install-onnxruntime.sh --arch "$TARGETARCH" --dest /out/lib

FROM --platform=$BUILDPLATFORM ${GOLANG_IMAGE} AS build
ARG TARGETARCH
ARG BUILDARCH
ARG GOPROXY=https://proxy.golang.org,direct
# The C compiler cgo uses for the target, by its GNU triplet: Debian's gcc
# answers to x86_64-linux-gnu-gcc or aarch64-linux-gnu-gcc natively, and a
# cross build installs the other one with the target's libc headers.
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) triplet=x86_64-linux-gnu ;; \
      arm64) triplet=aarch64-linux-gnu ;; \
      *) echo "mlgate image: TARGETARCH $TARGETARCH: want amd64 or arm64" >&2; exit 1 ;; \
    esac; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends "gcc-$(echo "$triplet" | tr _ -)" "libc6-dev-$TARGETARCH-cross"; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    echo "$triplet-gcc" > /etc/mlgate-cc
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 GOOS=linux GOARCH="$TARGETARCH" CC="$(cat /etc/mlgate-cc)" \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mlgate ./cmd/mlgate \
 && mkdir -p /out/cache

FROM ${RUNTIME_IMAGE} AS runtime
ARG RUNTIME_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mlgate" \
      org.opencontainers.image.description="Serves MLflow models:/name@alias through ONNX Runtime with MLflow's scoring protocol" \
      org.opencontainers.image.source="https://github.com/mlgate/mlgate" \
      org.opencontainers.image.url="https://github.com/mlgate/mlgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

COPY --from=onnxruntime /out/lib/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/mlgate /usr/local/bin/mlgate
COPY --from=build --chown=65532:65532 /out/cache /var/cache/mlgate

ENV MLGATE_LISTEN=0.0.0.0:8080 \
    MLGATE_ADMIN_LISTEN=127.0.0.1:9091 \
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
