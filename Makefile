# Two entry points: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch and torchvision are pinned together: this pair installs from the local wheel cache
# (a CUDA build that also runs on CPU); an unpinned torch would download several GB.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e ".[vision,test,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hadas demo --config configs/tiny-digits.yaml --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) runs .pytest_cache
