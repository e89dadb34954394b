# Sauda: the two commands are `make local` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help local test lint fmt bench fuzz events report-preview

help:
	@echo "make local   - local AWS emulator + functions + demo conversation (Ctrl-C stops all)"
	@echo "make test    - cfn-lint + the whole test suite against a private emulator"
	@echo "make lint    - cargo fmt --check and clippy -D warnings"
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
