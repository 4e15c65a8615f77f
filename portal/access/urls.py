"""Invitation pages of the customer portal."""

from django.urls import path

from portal.access import views

app_name = "access"
urlpatterns = [
    path("customers/<int:customer_id>/invitations/", views.invitations, name="invitations"),
    path(
        "customers/<int:customer_id>/invitations/<int:invitation_id>/<str:action>/",
        views.invitation_action,
        name="invitation_action",
    ),
    path("invitations/<int:customer_id>/<str:token>/", views.accept, name="accept"),
]
