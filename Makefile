# Cutout: `make test` and `make demo` do everything on a fresh machine (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
DEMO_IMAGE_SIZE ?= 128
DEMO_EPOCHS ?= 12
CUTOUT := $(VENV)/bin/cutout
DEMO_LOG := $(DEMO_DIR)/demo.log
# Start-up notices a newcomer reads as failures: the demo fails if its own output shows one
# (model/console.py filters them out of every job).
DEMO_NOISE := cuInit|CUDA error|absl::InitializeLog|oneDNN|cpu_feature_guard|Discarding unparseable
export PYTHONHASHSEED ?= 0
# The demo's output goes through tee: a failing command must still fail the target.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: install test demo bench clean

install: $(STAMP)

# Installs once; re-runs only when the pins change.
$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==24.3.1
	# compat mode: a path in a .pth file, so the project's packages win over a `model/` folder
	# in the current directory (the default editable finder loses to it; see the README's
	# "What the code relies on").
	$(PY) -m pip install -q -c constraints.txt -e '.[test]' --config-settings editable_mode=compat
	$(PY) -m pip check
	touch $(STAMP)

# Quiet TensorFlow's C++ logs in the tests; the demo shows what a user's own command shows.
test bench: export TF_CPP_MIN_LOG_LEVEL ?= 2

test: install
	$(PY) -m pytest -q -rs --durations=15

# The whole chain on built-in synthetic data through the `cutout` command, about 5 minutes on
# 2 cores (after the install). Its output is also kept in $(DEMO_LOG) and checked for noise.
demo: install
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(PY) -m pipelines.synthetic --output_dir $(DEMO_DIR)/raw --pairs 300 --seed 0 \
	    2>&1 | tee -a $(DEMO_LOG)
	$(CUTOUT) preprocess --source p3m10k=$(DEMO_DIR)/raw/P3M-10k.zip \
	    --source cod10k=$(DEMO_DIR)/raw/COD10K-v3.tar.gz \
	    --source people_seg=$(DEMO_DIR)/raw/people_segmentation \
	    --output_dir $(DEMO_DIR)/data --image_size $(DEMO_IMAGE_SIZE) \
	    --direct_num_workers 2 --direct_running_mode multi_processing 2>&1 | tee -a $(DEMO_LOG)
	$(CUTOUT) train --data_dir $(DEMO_DIR)/data --model_dir $(DEMO_DIR)/model \
	    --cpu_replicas 2 --epochs $(DEMO_EPOCHS) 2>&1 | tee -a $(DEMO_LOG)
	$(CUTOUT) remove --input $(DEMO_DIR)/raw/photos \
	    --output_dir $(DEMO_DIR)/cutouts --model $(DEMO_DIR)/model/export --review_below 0.8 \
	    --direct_num_workers 2 --direct_running_mode multi_processing 2>&1 | tee -a $(DEMO_LOG)
	$(CUTOUT) evaluate --data_dir $(DEMO_DIR)/data --model $(DEMO_DIR)/model/export \
	    --split test --report_dir $(DEMO_DIR)/report 2>&1 | tee -a $(DEMO_LOG)
	$(PY) -c "import json; m = json.load(open('$(DEMO_DIR)/report/metrics.json')); \
	    b = m['baselines']; f = lambda d: ', '.join(f'{k} {d[k]:.3f}' for k in ('iou', 'mae', 's_measure')); \
	    print('demo model   :', f(m['overall'])); \
	    print('all foreground:', f(b['all_foreground']['overall'])); \
	    print('centred ellipse:', f(b['centred_ellipse']['overall']))"
	@if grep -E '$(DEMO_NOISE)' $(DEMO_LOG); then \
	    echo "demo: the lines above are start-up noise a user must not see (model/console.py)"; \
	    exit 1; fi
	@echo "demo: shards in $(DEMO_DIR)/data, model in $(DEMO_DIR)/model (training_curves.png),"
	@echo "      cut-outs in $(DEMO_DIR)/cutouts, report in $(DEMO_DIR)/report/metrics.json,"
	@echo "      picture in $(DEMO_DIR)/report/contact_sheet.png"
	@test -f $(DEMO_DIR)/report/report.html && test -f $(DEMO_DIR)/cutouts/_review/index.html
	@echo "demo: pages to look at (open in a browser):"
	@echo "      $(DEMO_DIR)/report/report.html"
	@echo "      $(DEMO_DIR)/cutouts/_review/index.html"

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) bench_out *.egg-info
