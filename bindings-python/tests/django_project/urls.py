from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from django_project import views


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.user.get_username()}")


urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("home/", home),
    path("plain-login/", views.plain_login),
    path("protected-login/", views.protected_login),
    path("api/login/", views.json_login),
    path("metrics/", include("loginguard.django.metrics_urls")),
    path("api/token/", obtain_auth_token),
    path("allauth/", include("allauth.urls")),
    path(
        "lowercase-login/",
        LoginView.as_view(authentication_form=views.LowercaseAuthenticationForm),
    ),
]
