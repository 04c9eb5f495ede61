# Quick start: `make demo` trains, evaluates and draws predictions on the built-in toy dataset;
# `make test` runs the test suite. Both set up .venv first (fast when already set up).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/toy/iiwa_swin_toy.py
DEMO_OUT ?= output/demo
# The dataset DEMO_CONFIG trains on: toy, or toy_context for the configs/toy/*_context_toy.py configs.
DEMO_DATA ?= toy

.PHONY: setup demo test toy clean

setup:
	@bash tools/setup_env.sh

toy: setup
	@$(PY) tools/make_toy_dataset.py --output datasets/$(DEMO_DATA) $(if $(filter toy_context,$(DEMO_DATA)),--kind context)

demo: toy
	$(PY) tools/train_net.py --config-file $(DEMO_CONFIG) train.output_dir=$(DEMO_OUT)
	$(PY) tools/demo.py --config-file $(DEMO_CONFIG) --input "datasets/$(DEMO_DATA)/images/validation/*.png" \
	    --max-images 8 --with-gt --output $(DEMO_OUT)/pictures train.init_checkpoint=$(DEMO_OUT)/model_final.pth
	@echo "pictures of predictions: $(DEMO_OUT)/pictures"

test: setup
	$(PY) -m pytest -q tests

clean:
	rm -rf output
