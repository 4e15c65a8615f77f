"""URLs of the Entra ID integration (consent flow and management pages)."""

app_name = "integrations"
urlpatterns: list = []
