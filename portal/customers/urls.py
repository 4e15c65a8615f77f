"""The customer portal: what customer users see, scoped to their customers."""

from django.urls import path

from portal.customers import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/sites/<int:site_id>/", views.site_detail, name="site"),
    path("customers/<int:customer_id>/contacts/<int:contact_id>/", views.contact_detail, name="contact"),
]
