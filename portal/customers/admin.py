"""Staff admin for customers, sites, contacts and memberships; the Entra ID
integration adds its actions and buttons through mixins (`integrations.admin.customers`)."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from integrations.admin.customers import CustomerIntegrationAdminMixin, SiteIntegrationAdminMixin
from portal.customers.models import Contact, Customer, Membership, Site


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    fields = ["name"]
    show_change_link = True


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Customer)
class CustomerAdmin(CustomerIntegrationAdminMixin, admin.ModelAdmin):
    list_display = ["name", "plan", "site_count", "contact_count", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name"]
    inlines = [SiteInline, MembershipInline]
    # Shown only to staff with the integration permission (`permissions=["manage_azure"]`).
    actions = ["azure_import", "azure_sync_now", "azure_disconnect"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _site_count=Count("sites", distinct=True), _contact_count=Count("contacts", distinct=True)
            )
        )

    @admin.display(description=_("Sites"), ordering="_site_count")
    def site_count(self, obj: Customer) -> int:
        return obj._site_count

    @admin.display(description=_("Contacts"), ordering="_contact_count")
    def contact_count(self, obj: Customer) -> int:
        return obj._contact_count


@admin.register(Site)
class SiteAdmin(SiteIntegrationAdminMixin, admin.ModelAdmin):
    list_display = ["name", "customer", "contact_count"]
    list_filter = [("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_contact_count=Count("contacts"))

    @admin.display(description=_("Contacts"), ordering="_contact_count")
    def contact_count(self, obj: Site) -> int:
        return obj._contact_count


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "job_title", "customer", "site", "is_shared_mailbox"]
    list_filter = [
        ("customer", admin.RelatedOnlyFieldListFilter),
        ("site", admin.RelatedOnlyFieldListFilter),
        "is_shared_mailbox",
    ]
    search_fields = ["email", "first_name", "last_name", "job_title", "customer__name"]
    list_select_related = ["customer", "site"]
    autocomplete_fields = ["customer", "site"]
    readonly_fields = ["azure_object_id", "created_at", "updated_at"]
    show_full_result_count = False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "customer", "role"]
    list_filter = ["role", ("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "customer__name"]
    autocomplete_fields = ["user", "customer"]
    list_select_related = ["user", "customer"]
