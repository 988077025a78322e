# Everything labctl needs on a fresh Debian 12 machine, installed idempotently. The Debian packages come from
# labctl itself (`python -m labctl.needs`: its core's programs and every service's), once the venv exists.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)

.PHONY: setup apt demo test bench

setup: apt
	@ln -sf $(CURDIR)/$(VENV)/bin/labctl /usr/local/bin/labctl

# Installing a daemon's package must not start it on the machine (nginx would take port 80): where no
# policy-rc.d exists, one that refuses every start is in place for the install only.
define apt_install
	missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then guard=/usr/sbin/policy-rc.d; \
	        printf '#!/bin/sh\nexit 101\n' > $$guard; chmod +x $$guard; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	    status=$$?; [ -n "$$guard" ] && rm -f $$guard; exit $$status; \
	fi
endef

apt: venv
	@$(call apt_install,$$($(PY) -m labctl.needs))

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(call apt_install,python3-venv)
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
	@$(PY) bench/cli_up.py
	@$(PY) bench/emulator.py
	@$(PY) bench/routing.py
