"""A small Django project whose real auth views the Django tests drive."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "loginguard-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "loginguard.django",
    "rest_framework",
    "rest_framework.authtoken",
    "allauth",
    "allauth.account",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "loginguard.django.middleware.LoginGuardMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "loginguard.django.backends.LoginGuardBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ROOT_URLCONF = "django_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGIN_REDIRECT_URL = "/home/"
# DRF's token view and allauth's login, guarded by LoginGuardBackend (tests/test_drf_allauth.py).
REST_FRAMEWORK = {"EXCEPTION_HANDLER": "loginguard.django.drf.exception_handler"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_RATE_LIMITS = False  # loginguard's counters are what the tests exercise

LOGINGUARD = {
    "MANUAL_CLOCK": True,
    "CAPTCHA": {"BACKEND": "loginguard.django.captcha.StaticCaptcha", "SECRET": "solved"},
}
# The management-command test points a second process at the same shared store.
if os.environ.get("LOGINGUARD_POLICY_FILE"):
    LOGINGUARD["POLICY_FILE"] = os.environ["LOGINGUARD_POLICY_FILE"]

# The gunicorn test serves this project from worker processes: a file database that it
# migrates, the system clock, its host, and the answering worker's pid in a header.
if os.environ.get("LOGINGUARD_TEST_DB"):
    DATABASES["default"]["NAME"] = os.environ["LOGINGUARD_TEST_DB"]
if os.environ.get("LOGINGUARD_TEST_ALLOWED_HOSTS"):
    ALLOWED_HOSTS += os.environ["LOGINGUARD_TEST_ALLOWED_HOSTS"].split(",")
if os.environ.get("LOGINGUARD_MANUAL_CLOCK") == "0":
    LOGINGUARD["MANUAL_CLOCK"] = False
if os.environ.get("LOGINGUARD_TEST_WORKER_HEADER"):
    MIDDLEWARE.insert(0, "django_project.middleware.worker_pid")
