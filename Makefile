# Two entry points, both setting up .venv first:
#   make grade   grade the bundled samples into out/
#   make test    run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup grade test derived docker-image assignment bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(STAMP)

grade: setup
	$(BIN)/activation-grader grade samples --out out

test: setup
	$(BIN)/python -m pytest -q

# make derived: write every file that follows from the exercises and the golden solution (the master's
# hidden tests, the similarity starter, samples/, the expected scores and snapshots): tests/derive.py
derived: setup
	$(BIN)/python tests/derive.py

docker-image: setup
	$(BIN)/activation-grader image build --offline

assignment: setup
	$(BIN)/python assignments/build.py

# make bench: the whole benchmark, with the scaling rows for 2,000 notebooks; BENCH_ARGS= leaves them out
# (or --n, --skip-docker, --skip-dask: see benchmarks/throughput.py)
BENCH_ARGS ?= --scale 2000
# and the similarity of a class of SIMILARITY_N submissions (benchmarks/similarity.py)
SIMILARITY_N ?= 2000
bench: setup
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/similarity.py --n $(SIMILARITY_N)

clean:
	rm -rf out assignments/dist .pytest_cache .hypothesis
