"""URLs of the Entra ID integration: the consent flow and the customer-facing pages."""

from django.urls import path

from integrations.views import audit, consent, manage, mapping, pins, policies, runs, safety

app_name = "integrations"
customer = "azure/customers/<int:customer_id>/"
urlpatterns = [
    path("azure/connect/<int:customer_id>/", consent.connect_start, name="connect"),
    path("azure/callback/", consent.callback, name="callback"),
    path("azure/confirm/", consent.confirm, name="confirm"),
    path("azure/confirm/cancel/", consent.confirm_cancel, name="confirm_cancel"),
    path(customer, manage.manage, name="manage"),
    path(customer + "sync/", manage.sync_now, name="sync_now"),
    path(customer + "disconnect/", manage.disconnect, name="disconnect"),
    path(customer + "mapping/", mapping.mapping_editor, name="mapping"),
    path(customer + "runs/", runs.run_history, name="runs"),
    path(customer + "runs/<int:run_id>/", runs.run_detail, name="run"),
    path(customer + "runs/<int:run_id>/progress.json", runs.run_progress, name="run_progress"),
    path(customer + "runs/<int:run_id>/approve/", safety.approve, name="run_approve"),
    path(customer + "runs/<int:run_id>/reject/", safety.reject, name="run_reject"),
    path(customer + "runs/<int:run_id>/undo/", safety.undo, name="run_undo"),
    path(customer + "pause/", safety.pause_syncs, name="pause"),
    path(customer + "resume/", safety.resume_syncs, name="resume"),
    path(customer + "policies/", policies.policy_page, name="policies"),
    path(customer + "contacts/<int:contact_id>/pins/", pins.contact_pins, name="contact_pins"),
    path(customer + "audit/", audit.audit_log, name="audit"),
    path(customer + "audit.csv", audit.audit_csv, name="audit_csv"),
]
