# Everything labctl needs on a fresh Debian 12 machine, installed idempotently.
APT_PACKAGES := mininet iproute2 iputils-ping bridge-utils ethtool iperf3 graphviz \
                python3-venv tcpdump traceroute nftables iptables procps
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)

.PHONY: setup apt venv demo test bench clean-labs

setup: apt venv
	@ln -sf $(CURDIR)/$(VENV)/bin/labctl /usr/local/bin/labctl

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@

demo: setup
	@labctl demo
	@mkdir -p out
	@labctl run scenarios/smoke --html out/demo-smoke.html --junit out/demo-smoke.xml
	@echo "HTML report of the smoke suite: $(CURDIR)/out/demo-smoke.html"

test: setup
	@$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	@$(PY) bench/bringup.py
