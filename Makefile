# The two commands of the README: `make demo` and `make test`. Both run set-up first (idempotent).
SHELL := /bin/bash
INSTRUCTION ?= throw away the apple

.PHONY: setup demo test bench eval clean
setup:
	@./scripts/setup.sh

demo: setup
	@. ./env.sh && saycan demo "$(INSTRUCTION)"

test: setup
	@. ./env.sh && python -m pytest test

bench: setup
	@. ./env.sh && saycan bench scoring

clean:
	rm -rf build install log
