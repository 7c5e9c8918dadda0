# The two commands of the README: `make demo` and `make test`. Both run set-up first (idempotent).
SHELL := /bin/bash
INSTRUCTION ?= throw away the apple

.PHONY: setup setup-test setup-view demo test bench eval clean
setup:
	@./scripts/setup.sh

# the tests also need llama.cpp's server (the openai backend is tested against a real one), Rerun's
# SDK and Chromium (the browser view is tested in a real headless browser)
setup-test:
	@./scripts/setup.sh --with-server --with-viewer --with-browser

# the browser view (`saycan view`, `saycan demo --view`) needs Rerun's SDK
setup-view:
	@./scripts/setup.sh --with-viewer

demo: setup
	@. ./env.sh && saycan demo "$(INSTRUCTION)"

test: setup-test
	@. ./env.sh && python -m pytest test

bench: setup
	@. ./env.sh && saycan bench scoring

clean:
	rm -rf build install log
