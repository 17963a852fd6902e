# syntax=docker/dockerfile:1
# One image holds archfit, archfit-scheduler, archfit-expander and archfit-placement, for
# linux/amd64 and linux/arm64 (a project whose point is arm64 ships arm64
# images of itself):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/archfit:TAG --push .
# archfit-scheduler also ships one image per Kubernetes minor, since
# kube-scheduler must never be newer than its API server (target scheduler):
#   docker buildx build --platform linux/amd64,linux/arm64 --target scheduler \
#     --build-arg K8S_MINOR=1.35 -t REGISTRY/archfit:TAG-k8s1.35 --push .
# The Go toolchain runs on the build machine's own platform and
# cross-compiles; no emulation is needed. `make images` builds the same
# images without a Docker engine.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v1.37.1 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
      -o /out/ ./cmd/archfit ./cmd/archfit-scheduler ./cmd/archfit-expander ./cmd/archfit-placement

# archfit-scheduler for one Kubernetes minor: the main module's for 1.37,
# else the build module cmd/archfit-scheduler/k8s<minor> (same source).
FROM --platform=$BUILDPLATFORM golang:1.26 AS scheduler-build
ARG TARGETOS TARGETARCH K8S_MINOR=1.37
WORKDIR /src
COPY . .
RUN set -e; dir=.; pkg=./cmd/archfit-scheduler; release=v1.37.1; tags=; \
    if [ "$K8S_MINOR" != 1.37 ]; then \
      dir=cmd/archfit-scheduler/k8s$K8S_MINOR; pkg=github.com/archfit/archfit/cmd/archfit-scheduler; tags=k8s$K8S_MINOR; \
      release=$(awk '$1=="k8s.io/kubernetes" && $2=="=>" {print $4}' $dir/go.mod); fi; \
    cd $dir && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags "$tags" \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$release -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_MINOR#1.}" \
      -o /out/ $pkg

FROM gcr.io/distroless/static-debian12:nonroot AS scheduler
COPY --from=scheduler-build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/archfit-scheduler"]

# Static binaries on a distroless base: no shell, no package manager, and a
# non-root user (65532) by default. Last, so that a build without --target
# is the full image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/archfit"]
