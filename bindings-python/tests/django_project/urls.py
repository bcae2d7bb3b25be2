from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.user.get_username()}")


urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("home/", home),
]
