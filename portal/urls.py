"""Top-level URLs: the admin, the customer portal, the Entra ID integration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import health
from portal.security import views as security_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/two-factor/", security_views.two_factor, name="two_factor"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("integrations/", include("integrations.urls")),
    path("", include("portal.access.urls")),
    path("", include("portal.activity.urls")),
    path("", include("portal.customers.urls")),
]
