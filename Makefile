# Sauda: the two commands are `make local` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help local test lint fmt bench fuzz events report-preview build lambda-binaries

help:
	@echo "make local   - local AWS emulator + functions + demo conversation (Ctrl-C stops all)"
	@echo "make test    - cfn-lint + the whole test suite against a private emulator"
	@echo "make lint    - cargo fmt --check and clippy -D warnings"
	@echo "make build   - release binaries for every function (arm64, one cargo invocation) + sam build"
	@echo "make bench   - every benchmark behind the README figures (SECTIONS="webhook reports" for some)"
	@echo "make fuzz    - a million generated inputs for every internet-facing parser"
	@echo "make events  - regenerate the signed sample events under events/"
	@echo "make report-preview - render the demo tenant's HTML report to a PNG (headless Chromium)"

local:
	@bash infra/scripts/local.sh

test:
	@bash infra/scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

bench:
	@bash infra/bench/run.sh $(SECTIONS)

fuzz:
	@bash infra/scripts/fuzz.sh

events:
	cargo run -q -p sauda-infra --bin sauda -- local events

report-preview:
	@bash infra/scripts/report-preview.sh $(PERIOD) $(LANGUAGE)

# ---- Release build (never part of `make test`) ------------------------------------------
# ARCH=arm64 is what the template deploys (Architectures: [arm64]); cargo-lambda adds the
# Rust target with rustup and cross-links with zig (`ziglang` from PyPI, installed from
# infra/requirements-build.txt). ARCH=x86-64 builds for this machine's own target.
ARCH ?= arm64
VENV ?= $(CURDIR)/.venv
# One line per function binary: template.yaml's BuildProperties.Binary, by logical id.
SAM_FUNCTIONS := \
  WebhookFunction:webhook NotifierFunction:notifier InboxApiFunction:inbox-api \
  AgentReplyFunction:agent-reply LeadApiFunction:lead-api LeadWorkerFunction:lead-worker \
  LoyaltyFunction:loyalty LoyaltyExpiryFunction:loyalty-expiry \
  ReportPlannerFunction:report-planner ReportWorkerFunction:report-worker \
  ReportLinkFunction:report-link OrdersApiFunction:orders-api \
  PaymentsWorkerFunction:payments-worker TenantAdminApiFunction:tenant-admin-api \
  CatalogImportWorkerFunction:catalog-import-worker
BINARIES := $(foreach f,$(SAM_FUNCTIONS),$(word 2,$(subst :, ,$(f))))

$(VENV)/.build-tools: infra/requirements-build.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r infra/requirements-build.txt
	touch $@

# Every binary in one cargo invocation, one target directory: dependencies compile once.
lambda-binaries: $(VENV)/.build-tools
	PATH="$(VENV)/bin:$$PATH" cargo lambda build --release --$(ARCH) $(addprefix --bin ,$(BINARIES))

# What `sam deploy` uploads: .aws-sam/build/<LogicalId>/bootstrap for every function.
build: lambda-binaries
	@if command -v sam >/dev/null; then sam build --build-in-source; \
	else echo "sam not installed: binaries are in target/lambda/<binary>/bootstrap"; fi

# Called by `sam build` once per function (BuildMethod: makefile): the binaries are built
# already (cargo finds nothing to do), so each call only copies one.
define sam_target
build-$(1): lambda-binaries
	cp target/lambda/$(2)/bootstrap $$(ARTIFACTS_DIR)/bootstrap
endef
$(foreach f,$(SAM_FUNCTIONS),$(eval $(call sam_target,$(word 1,$(subst :, ,$(f))),$(word 2,$(subst :, ,$(f))))))
