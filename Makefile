# Two entry points: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch and torchvision are pinned together: this pair installs from the local wheel cache
# (a CUDA build that also runs on CPU); an unpinned torch would download several GB.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test install browser clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e ".[vision,test,ray,export]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hadas demo --config configs/tiny-digits.yaml --out runs/demo

# The HTML-report tests drive headless Debian chromium (tests/browser.py); without it they skip.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: no /usr/bin/chromium and no root apt-get to install it; browser tests will skip"; \
	elif { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			>/tmp/hadas-apt-chromium.log 2>&1; then \
		echo "browser: installed $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else echo "browser: apt-get install chromium failed (/tmp/hadas-apt-chromium.log); browser tests will skip"; fi

test: $(STAMP) browser
	$(PY) -m pyflakes src tests bench
	$(PY) -m mypy
	$(PY) -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) runs .pytest_cache
