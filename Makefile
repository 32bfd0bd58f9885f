# Cutout: `make test` and `make demo` do everything on a fresh machine (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
# Quiet TensorFlow's C++ logs and keep its thread pools to this machine's cores.
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: install test demo bench clean

install: $(STAMP)

# Installs once; re-runs only when the pins change.
$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==24.3.1
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m pip check
	touch $(STAMP)

test: install
	$(PY) -m pytest -q -rs --durations=15

demo: install
	rm -rf $(DEMO_DIR)
	$(PY) -m pipelines.synthetic --output_dir $(DEMO_DIR)/raw --pairs 300 --seed 0
	@echo "demo: synthetic archives in $(DEMO_DIR)/raw"

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) bench_out *.egg-info
