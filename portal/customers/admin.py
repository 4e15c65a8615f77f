"""Staff admin for customers, sites, contacts and memberships.

This app knows nothing of the Entra ID integration: the integration extends
these admins from its own side (`integrations/admin/customers.py` and
`contacts.py` subclass them and register the subclasses in their place).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from portal.access.admin import InvitationInline, MembershipFormsetAdminMixin, MembershipInline
from portal.customers.models import Contact, Customer, Site

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _CustomerCounts(TypedDict):
    """What `CustomerAdmin.get_queryset` annotates."""

    _site_count: int
    _contact_count: int


class _SiteCounts(TypedDict):
    """What `SiteAdmin.get_queryset` annotates."""

    _contact_count: int


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    fields = ["name"]
    show_change_link = True


@admin.register(Customer)
class CustomerAdmin(MembershipFormsetAdminMixin, admin.ModelAdmin):
    list_display = ["name", "plan", "site_count", "contact_count"]
    list_filter = ["plan"]
    search_fields = ["name"]
    inlines = [SiteInline, MembershipInline, InvitationInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _site_count=Count("sites", distinct=True), _contact_count=Count("contacts", distinct=True)
            )
        )

    @admin.display(description=_("Sites"), ordering="_site_count")
    def site_count(self, obj: WithAnnotations[Customer, _CustomerCounts]) -> int:
        return obj._site_count

    @admin.display(description=_("Contacts"), ordering="_contact_count")
    def contact_count(self, obj: WithAnnotations[Customer, _CustomerCounts]) -> int:
        return obj._contact_count


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "customer", "contact_count"]
    list_filter = [("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_contact_count=Count("contacts"))

    @admin.display(description=_("Contacts"), ordering="_contact_count")
    def contact_count(self, obj: WithAnnotations[Site, _SiteCounts]) -> int:
        return obj._contact_count


MANAGED_FIELD_HELP = _("Managed by Microsoft Entra ID: the next sync overwrites a change made here.")
MANAGED_CONTACT_NOTE = _(
    "Managed by Microsoft Entra ID: name, job title, mobile phone and site come from the customer's "
    "directory and the next sync overwrites changes made here. Change them in Microsoft Entra ID instead."
)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    # Fits 1366 px: the name in one column, the job title on the contact's page.
    list_display = ["email", "full_name", "customer", "site", "is_shared_mailbox", "is_active"]
    list_filter = [
        ("customer", admin.RelatedOnlyFieldListFilter),
        ("site", admin.RelatedOnlyFieldListFilter),
        "is_shared_mailbox",
        "is_active",
    ]
    search_fields = ["email", "first_name", "last_name", "job_title", "customer__name"]
    list_select_related = ["customer", "site"]
    autocomplete_fields = ["customer", "site"]
    readonly_fields = ["azure_object_id", "mailbox_purpose", "created_at", "updated_at"]
    show_full_result_count = False

    @admin.display(description=_("Name"), ordering="last_name")
    def full_name(self, contact: Contact) -> str:
        return contact.full_name

    def get_form(self, request, obj=None, change=False, **kwargs):
        """On a synced contact every directory field says that the next sync overwrites it (R9)."""
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.is_directory_managed:
            for name in Contact.DIRECTORY_FIELDS:
                if name in form.base_fields:
                    form.base_fields[name].help_text = MANAGED_FIELD_HELP
        return form

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contact = self.get_object(request, object_id)
        if contact is not None and contact.is_directory_managed and request.method == "GET":
            messages.warning(request, MANAGED_CONTACT_NOTE)
        return super().change_view(request, object_id, form_url, extra_context)
