# otelcol-ready: build, run and test the distribution.
# Two commands on a fresh machine: `make run` and `make test`. Every tool is built from internal/tools (pinned).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
ROOT      := $(CURDIR)
TOOLS_DIR := $(ROOT)/.tools
BUILDER   := $(TOOLS_DIR)/builder
MDATAGEN  := $(TOOLS_DIR)/mdatagen
BIN       := $(ROOT)/distro/otelcol-ready
# The slim build a sidecar runs (builder-config-sidecar.yaml): only the components distro/config/sidecar.yaml uses.
SIDECAR_BIN    := $(ROOT)/distro-sidecar/otelcol-ready-sidecar
SIDECAR_CONFIG := distro/config/sidecar.yaml
DEMOAPP   := $(ROOT)/bin/demoapp
FAULTZOO  := $(ROOT)/bin/faultzoo
SDKCLIENT := $(ROOT)/bin/sdkclient
CONFIG    ?= distro/config/local.yaml
CONFIGS   := $(wildcard distro/config/*.yaml)
# Test artifacts (the readiness page's browser screenshots): go test -artifacts writes them under this directory.
ARTIFACTS ?= $(ROOT)/artifacts
# Packages that start goroutines of their own run under the race detector.
RACE_PKGS := ./receiver/... ./processor/... ./exporter/... ./extension/... ./pkg/... ./internal/...
# Bounded fuzzing: "package:FuzzName" pairs. `make test` fuzzes the OTLP-TX decoder (network input of the gateway);
# `make fuzz` all targets. Every target's seed corpus also runs as a plain test in `make test`. The other two
# targets' packages pull in the collector, whose coverage-instrumented build costs about 10 cold minutes on 2 cores.
FUZZ_TARGETS ?= ./pkg/otlptx:FuzzDecode ./pkg/otlptx:FuzzDecodeV2 ./receiver/pprofscrapereceiver:FuzzParsers ./processor/readinessprocessor:FuzzProcessMetrics
TEST_FUZZ_TARGETS ?= ./pkg/otlptx:FuzzDecode ./pkg/otlptx:FuzzDecodeV2
# `make fuzz` runs every target this long; `make test` runs its targets TEST_FUZZ_TIME each. make test counts
# executions (about 20 s of the OTLP-TX decoders here): with a duration, Go 1.26's fuzz coordinator can report its
# own deadline as a failure ("context deadline exceeded", no crasher: go.dev/issue/75804, fixed in Go 1.27), and a
# count has no deadline to race.
FUZZ_TIME ?= 10m
TEST_FUZZ_TIME ?= 25000x
# Minimising a new input runs up to 60 s by default, and the seeds are whole envelopes and profiles: within a 20 s
# budget the workers would spend it all minimising (0 execs/s). One second keeps them fuzzing.
FUZZ_MINIMIZE_TIME ?= 1s

export GOTOOLCHAIN := local

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BUILDER): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(GO) build -o $(BUILDER) go.opentelemetry.io/collector/cmd/builder

$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(GO) build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

.PHONY: tools
tools: $(BUILDER) $(MDATAGEN) ## Build the pinned builder (ocb) and mdatagen into .tools/.

.PHONY: build
build: ## Build distro/otelcol-ready and the slim distro-sidecar/otelcol-ready-sidecar (no -trimpath: it shares the build cache with the tests).
	$(GO) build -o $(BIN) ./distro
	$(GO) build -o $(SIDECAR_BIN) ./distro-sidecar

.PHONY: run
run: build ## Build and run the collector with distro/config/local.yaml (CONFIG=... to change).
	mkdir -p data
	$(BIN) --config $(CONFIG)

.PHONY: demoapp
demoapp: ## Build the demo Go service (GOEXPERIMENT=goroutineleakprofile, so goroutineleak is served).
	GOEXPERIMENT=goroutineleakprofile $(GO) build -o $(DEMOAPP) ./testbed/cmd/demoapp

.PHONY: faultzoo
faultzoo: ## Build the fault zoo of the readiness zoo scenario (GOEXPERIMENT=goroutineleakprofile, like demoapp).
	GOEXPERIMENT=goroutineleakprofile $(GO) build -o $(FAULTZOO) ./testbed/cmd/faultzoo

.PHONY: sdkclient
sdkclient: ## Build the OTel Go SDK client of testbed scenario 7 (default batch span processor, OTLP/gRPC).
	$(GO) build -o $(SDKCLIENT) ./testbed/cmd/sdkclient

.PHONY: demo
demo: build demoapp ## Run the demo service (leaking goroutines) next to the collector on local.yaml.
	mkdir -p data
	@echo "readiness page: http://$${OTELCOL_READY_PAGE_ENDPOINT:-localhost:13135}/"
	$(DEMOAPP) -listen 127.0.0.1:6060 -mode $${DEMO_MODE:-healthy,leak} & demo=$$!; \
	trap 'kill $$demo 2>/dev/null || true' EXIT INT TERM; \
	$(BIN) --config $(CONFIG)

.PHONY: distro
distro: $(BUILDER) ## Regenerate distro/ from builder-config.yaml and distro-sidecar/ from builder-config-sidecar.yaml.
	scripts/gen-distro.sh $(BUILDER) distro builder-config.yaml
	scripts/gen-distro.sh $(BUILDER) distro-sidecar builder-config-sidecar.yaml

.PHONY: check-distro
check-distro: $(BUILDER) ## Fail when distro/, distro-sidecar/ or go.mod is stale against the two ocb manifests.
	scripts/check-distro.sh $(BUILDER)

.PHONY: generate
generate: $(MDATAGEN) ## Run mdatagen for every component.
	for m in $$(git ls-files '*metadata.yaml' | grep -v '^internal/tools/'); do \
	  echo "mdatagen $$m"; (cd internal/tools && $(MDATAGEN) $(ROOT)/$$m); done

.PHONY: check-generate
check-generate: generate ## Fail when mdatagen's output differs from the committed generated files.
	@git diff --exit-code -- $$(git ls-files '*metadata.yaml' | xargs -n1 dirname) || \
	  { echo "generated files are stale: run 'make generate' and commit the result"; exit 1; }

.PHONY: validate
validate: build ## Validate every shipped config with the real binary, and the sidecar config with the slim one too.
	for c in $(CONFIGS); do echo "validate $$c"; $(BIN) validate --config $$c; done
	echo "validate $(SIDECAR_CONFIG) (slim)"; $(SIDECAR_BIN) validate --config $(SIDECAR_CONFIG)

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: unit
unit: ## Unit and end-to-end tests (race detector on our component packages; OTELCOL_READY_BIN, OTELCOL_READY_SIDECAR_BIN, DEMOAPP_BIN reused).
	mkdir -p $(ARTIFACTS)
	$(GO) test -race -count=1 -timeout 20m -artifacts -outputdir $(ARTIFACTS) $(RACE_PKGS)
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -vE '/(receiver|processor|exporter|extension|pkg|internal)/')

.PHONY: fuzz
fuzz: ## Bounded fuzzing of every fuzz target (FUZZ_TIME each).
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name in $$pkg for $(FUZZ_TIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE_TIME) $$pkg; done

.PHONY: deploy-gen
deploy-gen: ## Render the Kubernetes and Helm files in deploy/ from distro/config.
	$(GO) run ./deploy/gen

.PHONY: check-deploy
check-deploy: ## Fail when deploy/ embeds configs that differ from distro/config.
	$(GO) run ./deploy/gen -check

.PHONY: test
test: lint check-distro check-generate check-deploy validate demoapp faultzoo sdkclient ## Everything: lint, freshness, config validation, unit, e2e, fuzz.
	OTELCOL_READY_BIN=$(BIN) OTELCOL_READY_SIDECAR_BIN=$(SIDECAR_BIN) DEMOAPP_BIN=$(DEMOAPP) FAULTZOO_BIN=$(FAULTZOO) SDKCLIENT_BIN=$(SDKCLIENT) $(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz FUZZ_TARGETS="$(TEST_FUZZ_TARGETS)" FUZZ_TIME=$(TEST_FUZZ_TIME)

.PHONY: bench
bench: build demoapp faultzoo sdkclient ## Benchmarks and full testbed scenarios, printed side by side with upstream alternatives.
	$(GO) test -run '^$$' -bench . -benchmem $(RACE_PKGS)
	TESTBED_FULL=1 OTELCOL_READY_BIN=$(BIN) OTELCOL_READY_SIDECAR_BIN=$(SIDECAR_BIN) DEMOAPP_BIN=$(DEMOAPP) FAULTZOO_BIN=$(FAULTZOO) SDKCLIENT_BIN=$(SDKCLIENT) $(GO) test -count=1 -timeout 55m ./testbed/scenarios/
	$(GO) run ./testbed/cmd/report -mode full
