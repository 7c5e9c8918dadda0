# The two commands of the README: `make demo` and `make test`. Both run set-up first (idempotent).
SHELL := /bin/bash
INSTRUCTION ?= throw away the apple

.PHONY: setup setup-test demo test bench eval clean
setup:
	@./scripts/setup.sh

# the tests also need llama.cpp's server (the openai backend is tested against a real one)
setup-test:
	@./scripts/setup.sh --with-server

demo: setup
	@. ./env.sh && saycan demo "$(INSTRUCTION)"

test: setup-test
	@. ./env.sh && python -m pytest test

bench: setup
	@. ./env.sh && saycan bench scoring

clean:
	rm -rf build install log
