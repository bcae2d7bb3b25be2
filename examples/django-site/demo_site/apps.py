from django.apps import AppConfig


class DemoSiteConfig(AppConfig):
    name = "demo_site"
