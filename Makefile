# archfit. Binaries go to bin/. See README.md.
GO        ?= go
BIN       ?= bin
# Tests of the in-process control plane find fixture certs through
# runtime.Caller, so never build them with -trimpath.
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=v1.37.1 \
               -X k8s.io/component-base/version.gitMajor=1 \
               -X k8s.io/component-base/version.gitMinor=37
TEST_TIMEOUT ?= 25m

# archfit-scheduler is kube-scheduler, which must never be newer than its
# API server, so it is built once per supported Kubernetes minor. The main
# module is the newest minor's build; each older minor is a build module of
# its own, cmd/archfit-scheduler/k8s<minor>/, which compiles this tree's
# command and plugin source against that minor (docs/development.md). Adding
# a minor is one such directory and one word here.
SCHEDULER_MINORS ?= 1.35 1.36
MAIN_MINOR       := 1.37
# The Kubernetes release a build module pins, from its replace directive.
minor_release = $(shell awk '$$1=="k8s.io/kubernetes" && $$2=="=>" {print $$4}' cmd/archfit-scheduler/k8s$(1)/go.mod)
minor_ldflags = -X k8s.io/component-base/version.gitVersion=$(call minor_release,$(1)) \
                -X k8s.io/component-base/version.gitMajor=1 \
                -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(1)))
# What each minor's build runs of this tree's tests: the plugin, its config
# API, the shipped scheduler configs (kube-scheduler's own strict loader of
# that minor) and the version check.
SCHEDULER_TEST_PKGS := github.com/archfit/archfit/plugins/... github.com/archfit/archfit/scheduler-config \
                       github.com/archfit/archfit/internal/k8sbuild
# What make test-versions runs against each minor's in-process control
# plane: the scheduler's scenarios (Filter, Score, Events, metrics) and
# placement's (webhook over TLS, gate, controller).
VERSIONS_RUN ?= ^TestArchfit$$/^(scheduler|placement)$$
BENCH_TIME   ?= 2s

.PHONY: all build test unit integration race bench demo lint proto generate fuzz clean images e2e soak \
        schedulers scheduler-versions test-versions e2e-versions test-chart chart

all: build

build:
	$(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(BIN)/ ./cmd/...

# archfit-scheduler for every supported minor: bin/k8s<minor>/archfit-scheduler.
schedulers: build $(foreach m,$(SCHEDULER_MINORS),scheduler-k8s$(m))
	@mkdir -p $(BIN)/k8s$(MAIN_MINOR) && cp $(BIN)/archfit-scheduler $(BIN)/k8s$(MAIN_MINOR)/

# Unit and integration tests, then the race detector, then every older
# minor's scheduler build and its unit tests. The integration tests start one
# real control plane (etcd, kube-apiserver, kube-scheduler) per test binary.
# K8S_LDFLAGS tell the tests which minor they are built on (Go records no
# modules in a test binary) and give the in-process kube-apiserver its
# version.
test:
	$(GO) test -ldflags "$(K8S_LDFLAGS)" -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory test-chart
	$(MAKE) --no-print-directory race
	$(MAKE) --no-print-directory scheduler-versions

# The Helm chart (manifests/charts/archfit), with the Helm SDK in a
# test-only module, test/chart, so the main go.mod stays free of it: lint
# (what helm lint runs), renders of every toggle and minor, the
# self-signed TLS kept through lookup, and parity with the kustomize tree.
test-chart:
	cd test/chart && $(GO) test -timeout $(TEST_TIMEOUT) ./...

# The chart as bin/archfit-<version>.tgz, for helm install or a chart
# repository.
chart:
	@mkdir -p $(BIN)
	cd test/chart && $(GO) run ./cmd/render --package $(abspath $(BIN))

# Each older minor: build archfit-scheduler, check that --version names the
# minor, and run the plugin's unit tests compiled against that minor.
scheduler-versions: $(foreach m,$(SCHEDULER_MINORS),scheduler-versions-k8s$(m))

# The scheduler's and placement's integration scenarios against each
# minor's own in-process control plane (kube-apiserver, kube-scheduler and
# client-go of that minor). Not in make test: each minor compiles another
# control plane (docs/development.md gives the times).
test-versions: $(foreach m,$(SCHEDULER_MINORS),test-versions-k8s$(m))
	@mkdir -p $(BIN)
	$(GO) test -count=1 -ldflags "$(K8S_LDFLAGS)" -timeout $(TEST_TIMEOUT) -run '$(VERSIONS_RUN)' -v ./test/integration/ \
	  > $(BIN)/test-versions-k8s$(MAIN_MINOR).log 2>&1; rc=$$?; grep -E '^ *(--- |ok|FAIL)' $(BIN)/test-versions-k8s$(MAIN_MINOR).log; exit $$rc

define minor_targets
.PHONY: scheduler-k8s$(1) scheduler-versions-k8s$(1) test-versions-k8s$(1)
scheduler-k8s$(1):
	cd cmd/archfit-scheduler/k8s$(1) && $$(GO) build -tags k8s$(1) -ldflags "$(call minor_ldflags,$(1))" \
	  -o $$(abspath $$(BIN))/k8s$(1)/archfit-scheduler github.com/archfit/archfit/cmd/archfit-scheduler
scheduler-versions-k8s$(1): scheduler-k8s$(1)
	$$(BIN)/k8s$(1)/archfit-scheduler --version | grep -F "built on Kubernetes $(1) "
	cd cmd/archfit-scheduler/k8s$(1) && $$(GO) test -tags k8s$(1) -ldflags "$(call minor_ldflags,$(1))" -timeout $$(TEST_TIMEOUT) $$(SCHEDULER_TEST_PKGS)
test-versions-k8s$(1):
	@mkdir -p $$(BIN)
	cd cmd/archfit-scheduler/k8s$(1) && $$(GO) test -tags k8s$(1) -count=1 -ldflags "$(call minor_ldflags,$(1))" -timeout $$(TEST_TIMEOUT) \
	  -run '$$(VERSIONS_RUN)' -v github.com/archfit/archfit/test/integration > $$(abspath $$(BIN))/test-versions-k8s$(1).log 2>&1; \
	  rc=$$$$?; grep -E '^ *(--- |ok|FAIL)' $$(abspath $$(BIN))/test-versions-k8s$(1).log; exit $$$$rc
endef
$(foreach m,$(SCHEDULER_MINORS),$(eval $(call minor_targets,$(m))))

# The race detector over the packages whose own concurrency matters: the
# resolver's cache, singleflight and breaker; the plugin's informer-fed
# indexes; the expander's policy reload; the placement webhook and
# controller; migration's lock-free replica counter and its controller; TLS
# rotation. The integration tests are left out: with -race,
# building and running kube-apiserver, etcd and kube-scheduler in process
# would take CI's cold run past its 30 minutes.
RACE_PKGS ?= ./internal/imageplatform/ ./internal/tlsfiles/ ./plugins/archfit/... ./expander/... ./internal/placement/... ./internal/migration/...
race:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

unit:
	$(GO) test -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /test/integration)

integration:
	$(GO) test -timeout $(TEST_TIMEOUT) ./test/integration/...

# The shipped binaries as processes: etcd, kube-apiserver and kwok built from
# the module proxy into bin/e2e, archfit's image built by `make images` into a
# loopback registry, and archfit-scheduler (two replicas, leader election) and
# archfit-expander taken out of that image and run with the manifests' RBAC,
# config and flags. See docs/development.md for its cold and warm times.
#
# The real cluster-autoscaler's tests (test/e2e/ca_test.go) build it from the
# source tree in ARCHFIT_CA_SRC, by default the shared copy beside this
# checkout when there is one, and skip without it; that source is never
# copied into the project.
E2E_TIMEOUT ?= 60m
ARCHFIT_CA_SRC ?= $(if $(wildcard ../shared/cluster-autoscaler/build.sh),$(abspath ../shared/cluster-autoscaler))
e2e:
	$(if $(ARCHFIT_CA_SRC),ARCHFIT_CA_SRC=$(abspath $(ARCHFIT_CA_SRC)) )$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/

# TestOlderMinor (test/e2e/versions_test.go) for each older minor: its own
# kube-apiserver and archfit-scheduler as processes, with the one build of
# archfit-placement, the newest build's refusal of the older API server, and
# pods placed by Filter, Score and placement. Not in make test or make e2e.
e2e-versions:
	@set -e; for m in $(SCHEDULER_MINORS); do \
	  ARCHFIT_E2E_KUBE_MINOR=$$m $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -run '^TestOlderMinor$$' -v ./test/e2e/; \
	done

# Benchmarks only; no wall-clock thresholds live in `make test`. The Go
# micro-benchmarks run first; then one driver process measures scheduler
# throughput (default vs archfit profile, same run), the expander, the
# resolver, placement's admission latency and pod creation rate with and
# without its webhook, migration's API load and move rate, and the outcome,
# and prints one summary table.
# BENCH.md explains.
BENCH_NODES ?= 1000
BENCH_PODS  ?= 3000
bench:
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) \
	  ./internal/imageplatform/ ./plugins/archfit/ ./expander/app/ ./internal/placement/ ./internal/planner/ > $(BIN)/gobench.txt \
	  || { cat $(BIN)/gobench.txt; exit 1; }
	@cat $(BIN)/gobench.txt
	$(GO) build -o $(BIN)/archfit-bench ./test/bench
	$(BIN)/archfit-bench -gobench $(BIN)/gobench.txt -nodes $(BENCH_NODES) -pods $(BENCH_PODS) \
	  -cpuprofile $(BIN)/archfit-throughput.pprof

demo:
	$(GO) run ./cmd/archfit demo

# Soak: the expander (8 gRPC + TLS clients, a tenth of the requests
# malformed, its policy file rewritten every few seconds) and the resolver (a
# churn of 100,000 image references) against a loopback registry that fails,
# rate-limits and stalls, for SOAK_DURATION (setup and two pauses to measure
# at rest come on top). Fails if memory or goroutines grow past its stated
# bounds after the warm-up, or if the expander names a node group it was not
# offered. Not part of `make test`. Shorter: make soak SOAK_DURATION=2m
SOAK_DURATION ?= 10m
soak:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/archfit-soak ./test/soak
	$(BIN)/archfit-soak -duration $(SOAK_DURATION)

# archfit's image, an OCI index for linux/amd64 and linux/arm64, built and
# pushed without a Docker engine (cmd/archfit-images), then one
# archfit-scheduler image per Kubernetes minor, IMAGE-k8s<minor>, which the
# chart and the kustomize overlays choose by the cluster's minor
# (IMAGE_MINORS= builds the first alone):
#   make images REGISTRY=registry.example.com/platform TAG=v0.1.0
#   make images IMAGE=127.0.0.1:5000/archfit:dev INSECURE=1
REGISTRY ?=
TAG      ?= dev
IMAGE    ?= $(REGISTRY)/archfit:$(TAG)
INSECURE ?=
IMAGE_MINORS ?= $(SCHEDULER_MINORS) $(MAIN_MINOR)
images:
	@if [ "$(IMAGE)" = "/archfit:$(TAG)" ]; then \
	  echo "make images: set REGISTRY=host[:port]/path (or IMAGE=full reference)"; exit 2; fi
	$(GO) run ./cmd/archfit-images --push $(IMAGE) --ldflags "$(K8S_LDFLAGS)" $(if $(INSECURE),--insecure)
	$(if $(IMAGE_MINORS),$(GO) run ./cmd/archfit-images --push $(IMAGE)-k8s$(MAIN_MINOR) --packages ./cmd/archfit-scheduler \
	  --ldflags "$(K8S_LDFLAGS)" $(if $(INSECURE),--insecure))
	$(foreach m,$(filter-out $(MAIN_MINOR),$(IMAGE_MINORS)),GOFLAGS=-tags=k8s$(m) $(GO) run ./cmd/archfit-images --push $(IMAGE)-k8s$(m) \
	  --module-dir cmd/archfit-scheduler/k8s$(m) --packages github.com/archfit/archfit/cmd/archfit-scheduler \
	  --ldflags "$(call minor_ldflags,$(m))" $(if $(INSECURE),--insecure) && ) true

# Small seeds and a short minimize budget: the default 60 s per new input,
# on multi-KB seeds, left the engine minimizing instead of fuzzing. The
# webhook's inputs are whole AdmissionReviews, whose byte-by-byte
# minimization runs out any time budget, so it gets a count instead. The
# names are anchored because -fuzz is a pattern that must match one fuzzer.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParsePlatform$$' -fuzztime 30s -fuzzminimizetime 5s ./internal/imageplatform/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePlatformList$$' -fuzztime 30s -fuzzminimizetime 5s ./internal/imageplatform/
	$(GO) test -run '^$$' -fuzz '^FuzzParseReference$$' -fuzztime 30s -fuzzminimizetime 5s ./internal/imageplatform/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s -fuzzminimizetime 5s ./expander/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePolicy$$' -fuzztime 30s -fuzzminimizetime 5s ./expander/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePriorityConfigMapValue$$' -fuzztime 30s -fuzzminimizetime 5s ./expander/
	$(GO) test -run '^$$' -fuzz '^FuzzWebhookServeHTTP$$' -fuzztime 30s -fuzzminimizetime 200x ./internal/placement/
	$(GO) test -run '^$$' -fuzz '^FuzzPlan$$' -fuzztime 30s -fuzzminimizetime 5s ./internal/planner/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./test/tiers/

# ArchFitArgs' and ResolverConfig's deepcopy, conversion and defaulting
# code, generated as scheduler-plugins does and committed. go run @version
# fetches code-generator from the module proxy without adding it to go.mod.
CODE_GENERATOR_VERSION := v0.37.1
CODEGEN = GOFLAGS= $(GO) run k8s.io/code-generator/cmd/$(1)@$(CODE_GENERATOR_VERSION) --go-header-file /dev/null
generate:
	$(call CODEGEN,deepcopy-gen) --output-file zz_generated.deepcopy.go ./plugins/apis/config ./plugins/apis/config/v1
	$(call CODEGEN,conversion-gen) --output-file zz_generated.conversion.go ./plugins/apis/config/v1
	$(call CODEGEN,defaulter-gen) --output-file zz_generated.defaults.go ./plugins/apis/config/v1

# The generated code is committed, so a build needs no protoc. To regenerate:
# apt-get install protobuf-compiler, then make proto (plugins are pinned).
PROTOC_GEN_GO_VERSION      := v1.36.11
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS := $(abspath $(BIN))/tools

proto:
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(TOOLS):$$PATH protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative expander/protos/expander.proto

clean:
	rm -rf $(BIN)
