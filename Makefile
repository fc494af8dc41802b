# edgepipe: thin wrappers around the `edgepipe` CLI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
EDGEPIPE := $(VENV)/bin/edgepipe
STAMP := $(VENV)/.stamp-setup
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm dataset-fashion-mnist valgrind \
	qemu-user gcc-aarch64-linux-gnu openssh-client openssh-server adb chromium
# the Arm64 Python (Debian arm64 .debs + aarch64 wheels) that the arm64-qemu device runs
SYSROOT := $(VENV)/arm64-sysroot
SYSROOT_STAMP := $(SYSROOT)/.edgepipe-sysroot

MODEL ?= fmnist_cnn
VARIANT ?= int8
SAMPLES ?= 500
PORT ?=
HOST ?=
SERIAL ?=
ENGINE ?=
LAYOUT ?=
EXPORT_DIR ?= exports/$(MODEL)-$(VARIANT)
OUT ?=
# the run folder every target reads and adds to: OUT=DIR, else runs/MODEL
RUN_DIR = $(or $(OUT),runs/$(MODEL))
BOARDS := $(sort $(basename $(notdir $(wildcard boards/*.toml))))
DEVICES := $(sort $(basename $(notdir $(wildcard devices/*.toml))))
DEMO_TARGETS ?= host-litert,host-tflm,host-lce,host-c,mps2-an386,arm64-qemu
# host targets measure the whole test set; the C engine, the emulated board and the emulated Arm64 CPU
# a fixed prefix of it, so that the cold demo stays within 10 minutes on 2 cores (make <board> uses
# SAMPLES=500). arm64-qemu=200: about 2 s of CPU per int8 variant, 4 s per float one under qemu-aarch64
DEMO_SAMPLES ?= host-c=1000,mps2-an386=100,arm64-qemu=200

.PHONY: help setup system demo test boards models export docs report clean $(BOARDS) $(DEVICES)

help: ## list the targets
	@echo "edgepipe - Keras model to microcontrollers, measured"
	@echo
	@grep -hE '^[a-z][a-zA-Z0-9_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  make <board>        run MODEL=$(MODEL) VARIANT=$(VARIANT) on a board [PORT=/dev/ttyACM0] [SAMPLES=N]"
	@echo "                      [ENGINE=edgepipe|tflm|tflm-cmsis-nn, or a comma list; TFLM needs TFLM_DIR=<tree>]"
	@echo "                      [LAYOUT=speed|size: C engine kernel tables, fastest (default) or int8 weights"
	@echo "                      only (less flash on Cortex-M4/M7); also for make export]"
	@echo "                      boards: $(BOARDS)"
	@echo "  make <device>       run MODEL=$(MODEL) VARIANT=$(VARIANT) with LiteRT and the C engine on a device"
	@echo "                      [HOST=user@ip | SERIAL=adb-serial] [SAMPLES=N]; devices: $(DEVICES)"
	@echo "  OUT=DIR             run folder for demo, <board>, export and report (default runs/MODEL);"
	@echo "                      runs add their rows to its results.json, never remove others"

setup: $(STAMP) $(SYSROOT_STAMP) ## create .venv, install the Debian packages, build the Arm64 sysroot (once)

system:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "edgepipe needs Debian packages:$$missing"; \
	    echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml requirements.lock | system
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "edgepipe needs Python 3.11 (tflite-runtime 2.14 has no wheel for " + sys.version.split()[0] + ")"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[test]'
	@touch $@

$(SYSROOT_STAMP): | $(STAMP)
	@dpkg --print-foreign-architectures | grep -qx arm64 || { \
	  if [ "$$(id -u)" = 0 ]; then dpkg --add-architecture arm64 && apt-get update -qq; \
	  else echo "the Arm64 sysroot needs Debian's arm64 packages;"; \
	    echo "run: sudo dpkg --add-architecture arm64 && sudo apt-get update"; exit 1; fi; }
	$(VENV)/bin/python -m pipeline.bench.arm64_sysroot $(SYSROOT)

demo: setup ## train fmnist_cnn, make every variant, benchmark on host (LiteRT, TFLM, LCE for binary), C engine, mps2-an386 and arm64-qemu; print the table
	$(EDGEPIPE) run $(MODEL) --targets $(DEMO_TARGETS) --samples $(DEMO_SAMPLES) --out $(RUN_DIR)

test: setup ## run the test suite (real TF, TFLM, gcc, QEMU)
	$(VENV)/bin/python -m pytest

boards: setup ## list the boards
	@$(EDGEPIPE) boards

models: setup ## list the model recipes
	@$(EDGEPIPE) models

export: setup ## C files for MODEL/VARIANT (from the run in OUT or runs/MODEL) into EXPORT_DIR
	$(EDGEPIPE) export $(MODEL) --variant $(VARIANT) --run $(RUN_DIR) --out $(EXPORT_DIR) $(if $(LAYOUT),--layout $(LAYOUT))

docs: setup ## regenerate docs/SUPPORTED.md from the kernel registry and the preflight rules
	$(EDGEPIPE) docs

report: setup ## re-render the report of the run in OUT (default runs/MODEL) from its results.json
	$(EDGEPIPE) report $(RUN_DIR)

$(BOARDS): setup
	$(EDGEPIPE) run $(MODEL) --variants $(VARIANT) --targets $@ --samples $(SAMPLES) $(if $(PORT),--port $(PORT)) --out $(RUN_DIR) $(if $(ENGINE),--engines $(ENGINE)) $(if $(LAYOUT),--layout $(LAYOUT))

$(DEVICES): setup
	$(EDGEPIPE) run $(MODEL) --variants $(VARIANT) --targets $@,$@-c --samples $(SAMPLES) $(if $(HOST),--host $(HOST)) $(if $(SERIAL),--serial $(SERIAL)) --out $(RUN_DIR)

clean: ## remove runs/, exports/ and build output (keeps .venv)
	rm -rf runs exports build .pytest_cache
