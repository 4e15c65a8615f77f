"""The activity log in the customer portal."""

from django.urls import path

from portal.activity import views

app_name = "activity"
urlpatterns = [
    path("customers/<int:customer_id>/activity/", views.activity_log, name="log"),
    path("customers/<int:customer_id>/activity.csv", views.activity_csv, name="csv"),
]
