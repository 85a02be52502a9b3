# echome: `make demo` and `make test` work on a fresh Debian machine with Rust.
SHELL := /bin/bash
.DEFAULT_GOAL := test

# Debian packages the tests and the demo need: ffmpeg decodes, espeak-ng speaks the generated
# test recordings, alsa-utils and speech-dispatcher ship real human speech (two speakers, mixed
# by bench/real_voices.py for the speaker-selection tests), asterisk-core-sounds real telephone
# prompts of four more speakers (bench/speaker_check.py: the voiceprint check); openssl makes
# the throwaway CA and certificate of the fetcher's local HTTPS server.
ASTERISK_SOUNDS := $(foreach l,en es fr it ru,asterisk-core-sounds-$(l)-wav)
APT_PACKAGES := ffmpeg espeak-ng sox openssl alsa-utils speech-dispatcher $(ASTERISK_SOUNDS)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DIR := .echome/demo
# Python and Node tools live in the project, not on the system: pinned in tools/.
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
export PATH := $(VENV)/bin:$(TOOLS)/node_modules/.bin:$(PATH)
# The speaker encoder's weights (`make tools`), for every test, the demo and the benchmark,
# wherever CARGO_TARGET_DIR puts the binaries; set it to `off` to select without them.
export ECHOME_VOICEPRINT_WEIGHTS ?= $(TOOLS)/voiceprint/ge2e.safetensors
export SAM_CLI_TELEMETRY := 0

.PHONY: deps tools test check-infra build demo bench bench-calls fmt clean

deps:
	@missing=""; \
	for c in ffmpeg espeak-ng sox openssl; do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	[ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing="$$missing alsa-utils"; \
	[ -f /usr/share/sounds/speech-dispatcher/dummy-message.wav ] || missing="$$missing speech-dispatcher"; \
	for d in en_US_f_Allison es_MX_f_Allison fr_CA_f_June it_IT_m_Carlo ru_RU_f_IvrvoiceRU; do \
	  [ -d /usr/share/asterisk/sounds/$$d ] || missing="$$missing asterisk-core-sounds"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
	@rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

# moto (the AWS adapter tests), sam, cfn-lint, cargo-lambda + zig, Schemathesis, asl-validator,
# and the speaker encoder's weights.
tools: $(VENV)/.installed $(TOOLS)/node_modules/.installed $(TOOLS)/voiceprint/ge2e.safetensors

# The GE2E speaker encoder's weights, from the Resemblyzer 0.1.4 wheel on PyPI (pinned version
# and sha256 in the script; never committed), converted without torch.
$(TOOLS)/voiceprint/ge2e.safetensors: layers/voiceprint/ge2e_weights.py $(VENV)/.installed
	$(VENV)/bin/python layers/voiceprint/ge2e_weights.py $@

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
	touch $@

$(TOOLS)/node_modules/.installed: tools/package.json
	mkdir -p $(TOOLS)
	cp tools/package.json $(TOOLS)/package.json
	cd $(TOOLS) && npm install --silent --no-audit --no-fund
	touch $@

test: deps tools check-infra
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	python3 tools/schemathesis_run.py $${CARGO_TARGET_DIR:-target}/debug/echome
	$(MAKE) build

# The template and the state machine, as CloudFormation and Step Functions will see them. Plain
# cfn-lint skips a SAM state machine's definition and the S3-notification cycle, so the
# transformed template (ASL inlined) is linted too.
check-infra: tools
	@for f in statemachine/*.asl.json; do asl-validator --json-path "$$f" || exit 1; done
	sam validate --lint
	@mkdir -p .aws-sam
	python3 tools/sam_transform.py template.yaml > .aws-sam/transformed.json
	cfn-lint .aws-sam/transformed.json
	python3 tools/template_check.py template.yaml functions/api/openapi.json

# Every function for arm64 with cargo-lambda (zig), and the ffmpeg layer.
build: deps tools
	sam build

# A local clone run on a generated 5-minute call: music, noise, a second speaker and the caller.
demo: deps
	@mkdir -p $(DEMO_DIR)
	cargo run -q -p echome-testkit --bin echome-testgen -- --kind mixed --seconds 300 --seed 1 \
	  --out $(DEMO_DIR)/caller.wav --truth $(DEMO_DIR)/caller.truth.json
	@echo "demo: the demo caller +14155550123 consents to being cloned (CONSENT_POLICY is required by default)"
	cargo run -q -p echome-cli --bin echome -- --data-dir .echome consent grant +14155550123 --method api \
	  --by "the demo caller" --evidence demo/consent.txt
	cargo run -q -p echome-cli --bin echome -- --data-dir .echome run $(DEMO_DIR)/caller.wav --caller +14155550123 --json \
	  > $(DEMO_DIR)/run.json || { cat $(DEMO_DIR)/run.json; exit 1; }
	@python3 -c 'import json; r = json.load(open("$(DEMO_DIR)/run.json")); \
	  print("run", r["run_id"], r["status"]); print("sample pack:", *r["samples"], sep="\n  "); \
	  print("report: ", r["report"]); print("picture:", r["picture"]); \
	  print("voice:  ", r["voice_id"], "(" + r["engine"] + ")"); r["note"] and print("note:   ", r["note"]); \
	  open("$(DEMO_DIR)/voice_id", "w").write(r["voice_id"])'
	cargo run -q -p echome-cli --bin echome -- --data-dir .echome say --voice "$$(cat $(DEMO_DIR)/voice_id)" \
	  --text "Hello, thanks for calling. This is your own voice, or the closest one we could find." \
	  --format mp3 --out $(DEMO_DIR)/hello.mp3

# Figures for the README: echome against the original design, same machine, same run.
bench: deps
	python3 bench/bench.py

# The 3CX webhook under load through a release `echome serve` (figures in the README).
bench-calls: deps
	cargo build --release -p echome-cli -p echome-testkit --bin echome --bin echome-testgen --example call_bench
	$${CARGO_TARGET_DIR:-target}/release/examples/call_bench all

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf .echome bench/out
