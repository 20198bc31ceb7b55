# geopose — set-up and checks. `make test` and `make demo` work on a fresh machine
# that has only Python 3 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.geopose-installed
PYTEST_ARGS ?= -n 2

.PHONY: install test lint typecheck unit browser docs demo bench gpu-check clean

install: $(STAMP)

# Re-install only when the dependency files change; `make install` is then a no-op.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks examples scripts/docs_hooks.py
	$(BIN)/ruff format --check src tests benchmarks examples scripts/docs_hooks.py

typecheck: install
	$(BIN)/mypy

# The report test renders HTML in headless Chromium; the script installs Debian's
# chromium only when running as root with apt available (as in CI), else does nothing.
browser:
	@bash scripts/install-chromium.sh || echo "chromium not installed: the browser test will be skipped"

unit: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The documentation site (mkdocs.yml) into site/, strict: a broken reference, link or
# docstring fails the build. The CLI pages are generated from `--help` at build time.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck unit docs

# The whole system on generated data: synth -> train (10 min CPU) -> D4 predict ->
# official score -> demo_out/report.html and demo_out/summary.json.
demo: install
	$(BIN)/geopose demo --out demo_out

# CPU benchmark suite: JSON per script in benchmarks/results/, one table on stdout.
bench: install
	$(BIN)/python benchmarks/run_all.py

# On a CUDA machine: GPU tests, 2-GPU torchrun, bf16/fp16 loss curves, speed; one table
# (docs/training.md). Stops with a message where no CUDA device is visible.
gpu-check: install
	bash scripts/gpu-check.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
