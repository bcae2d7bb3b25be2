# The example sites: examples/django-site (Django's LoginView and admin) and
# examples/express-site (a login page over a JSON API), with the local test CAPTCHA in
# examples/local-captcha. make demo-site serves the Django one on localhost; make test-examples
# drives both through the seed scenarios in headless Chromium (Selenium, system chromedriver).

EXAMPLES_TESTS := examples/tests
DEMO_SITE_DIR := examples/django-site
DEMO_DATA := $(CURDIR)/build/demo-site
DEMO_PORT ?= 8000
DEMO_CAPTCHA_PORT ?= 8001
# Recursive (=): PY comes from mk/python.mk, included after this file.
EXAMPLES_PYTEST = $(PY) -m pytest -c /dev/null -W error -q -p no:cacheprovider -p no:django

TEST_TARGETS += test-examples

.PHONY: test-examples example-screenshots demo-site examples-browser

# Debian's chromium and chromium-driver, installed only when missing.
examples-browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium and chromedriver are installed"; \
	else \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver; \
	fi

test-examples: examples-browser wheel-python build-node
	$(PY_VENV)/bin/ruff check examples && $(PY_VENV)/bin/ruff format --check examples
	$(EXAMPLES_PYTEST) $(EXAMPLES_TESTS)

# Refreshes the screenshots that the examples' READMEs show.
example-screenshots: examples-browser wheel-python build-node
	EXAMPLES_SCREENSHOTS_DIR=$(CURDIR)/examples/screenshots $(EXAMPLES_PYTEST) $(EXAMPLES_TESTS)

demo-site: wheel-python
	mkdir -p $(DEMO_DATA)
	cd $(DEMO_SITE_DIR) && DEMO_DATA_DIR=$(DEMO_DATA) $(CURDIR)/$(PY) manage.py migrate -v0
	cd $(DEMO_SITE_DIR) && DEMO_DATA_DIR=$(DEMO_DATA) $(CURDIR)/$(PY) manage.py seed_demo
	@sed 's/{PORT}/$(DEMO_PORT)/g' $(DEMO_SITE_DIR)/try-it.txt
	@$(PY) examples/local-captcha/server.py --port $(DEMO_CAPTCHA_PORT) & captcha=$$!; \
	trap 'kill $$captcha' EXIT; \
	cd $(DEMO_SITE_DIR) && DEMO_DATA_DIR=$(DEMO_DATA) \
	  LOCAL_CAPTCHA_URL=http://127.0.0.1:$(DEMO_CAPTCHA_PORT) \
	  $(CURDIR)/$(PY) manage.py runserver --noreload 127.0.0.1:$(DEMO_PORT)
