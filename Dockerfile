# syntax=docker/dockerfile:1
# One image holds archfit, archfit-scheduler, archfit-expander and archfit-placement, for
# linux/amd64 and linux/arm64 (a project whose point is arm64 ships arm64
# images of itself):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/archfit:TAG --push .
# The Go toolchain runs on the build machine's own platform and
# cross-compiles; no emulation is needed.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v1.37.1 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
      -o /out/ ./cmd/archfit ./cmd/archfit-scheduler ./cmd/archfit-expander ./cmd/archfit-placement

# Static binaries on a distroless base: no shell, no package manager, and a
# non-root user (65532) by default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/archfit"]
