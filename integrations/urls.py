"""URLs of the Entra ID integration (consent flow and management pages)."""

from django.urls import path

from integrations.views import consent, manage

app_name = "integrations"
urlpatterns = [
    path("azure/connect/<int:customer_id>/", consent.connect_start, name="connect"),
    path("azure/callback/", consent.callback, name="callback"),
    path("azure/customers/<int:customer_id>/", manage.manage, name="manage"),
    path("azure/customers/<int:customer_id>/disconnect/", manage.disconnect, name="disconnect"),
]
