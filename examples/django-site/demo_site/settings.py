"""Settings of the loginguard example site: Django's own LoginView, password reset and admin,
guarded by loginguard.django. Environment variables (all optional):

- DEMO_DATA_DIR: where the SQLite database and the outbox live (default: ../var)
- LOCAL_CAPTCHA_URL: the local test CAPTCHA server (default http://127.0.0.1:8001)
- TURNSTILE_SITE_KEY / TURNSTILE_SECRET: use Cloudflare Turnstile itself instead
- DEMO_TRUSTED_PROXIES: comma-separated CIDRs whose X-Forwarded-For is believed (the browser
  tests play a reverse proxy on 127.0.0.1 to come from several networks)
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DEMO_DATA_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-site-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "loginguard.django",
    "demo_site",  # its templates (in DIRS) override loginguard/blocked.html and registration/
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "demo_site.network.PretendNetworkMiddleware",  # demo only: the "switch network" button
    "loginguard.django.middleware.LoginGuardMiddleware",  # after the auth middleware
]

AUTHENTICATION_BACKENDS = [
    "loginguard.django.backends.LoginGuardBackend",  # first: every authenticate() is guarded
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "demo_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "demo_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_site.network.network",
            ],
        },
    },
]
WSGI_APPLICATION = None

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Password-reset mails are written to files that /outbox/ shows: no mail server needed.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = DATA_DIR / "outbox"
DEFAULT_FROM_EMAIL = "noreply@example.com"

LOCAL_CAPTCHA_URL = os.environ.get("LOCAL_CAPTCHA_URL", "http://127.0.0.1:8001").rstrip("/")

if os.environ.get("TURNSTILE_SECRET"):
    # The real thing: Cloudflare's widget and siteverify.
    CAPTCHA = {
        "BACKEND": "loginguard.django.captcha.Turnstile",
        "SITE_KEY": os.environ.get("TURNSTILE_SITE_KEY", ""),
        "SECRET": os.environ["TURNSTILE_SECRET"],
    }
else:
    # The same protocol against examples/local-captcha/server.py.
    CAPTCHA = {
        "BACKEND": "demo_site.captcha.LocalTurnstile",
        "SITE_KEY": "local-test-site-key",
        "SECRET": "local-test-secret",
        "VERIFY_URL": f"{LOCAL_CAPTCHA_URL}/siteverify",
        "SCRIPT_URL": f"{LOCAL_CAPTCHA_URL}/api.js",
    }

LOGINGUARD = {
    "POLICY_FILE": BASE_DIR / "loginguard.toml",
    "CAPTCHA": {**CAPTCHA, "TIMEOUT": 5.0},
    "TRUSTED_PROXIES": [c for c in os.environ.get("DEMO_TRUSTED_PROXIES", "").split(",") if c],
    "PASSWORD_RESET_URL": "password_reset",
}
