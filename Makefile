# The README's two commands: `make demo` and `make test`. Everything is installed into .venv/
# with the pins of constraints.txt (torch's CPU wheel, MindSpore 2.10, numpy<2).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.msagent-installed
DEMO_OUT ?= demo-out

.PHONY: install demo test test-slow bench eval eval-wild kb-verify wheel clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[frameworks,dev,bot]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/msagent migrate examples/textvision -o $(DEMO_OUT) --fresh

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt ray
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

eval: $(STAMP)
	$(BIN)/msagent eval evals/cases

# The wild corpus (evals/wild/corpus.toml): pinned PyPI model packages, downloaded and built into
# $(WILD) (not committed), scored like the own corpus; the JSON lands in evals/wild/results-latest.json.
WILD ?= .wild
eval-wild: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -r evals/wild/requirements.txt
	$(BIN)/python tools/wild_corpus.py --into $(WILD)
	$(BIN)/msagent eval $(WILD)/cases --json --out $(WILD)/out > $(WILD)/results.json || test -s $(WILD)/results.json
	cp $(WILD)/results.json evals/wild/results-latest.json
	$(BIN)/python -c "import json, agent.evals.table as t; print(t.render_markdown(json.load(open('evals/wild/results-latest.json'))))"

kb-verify: $(STAMP)
	$(BIN)/msagent kb verify --into-package

wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) $(DEMO_OUT) dist build
