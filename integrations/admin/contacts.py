"""What the policies add to the contact admin (design.md §6.2): pinned fields and
what the directory says about them. The customers app's ContactAdmin is
subclassed here and registered in its place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from integrations.policy_selectors import pinned_divergences
from portal.customers.admin import ContactAdmin
from portal.customers.models import Contact, ContactPin
from portal.users import signed_in_user


class ContactPinInline(admin.TabularInline):
    """Fields the sync leaves as they are for this contact."""

    model = ContactPin
    fields = ["field", "pinned_by", "pinned_at"]
    readonly_fields = ["pinned_by", "pinned_at"]
    extra = 0
    verbose_name = _("pinned field (the sync leaves it)")
    verbose_name_plural = _("Pinned fields (the sync leaves them and shows the directory's value)")


if TYPE_CHECKING:
    # The mixin only ever extends the Contact ModelAdmin: type it as one.
    _ContactModelAdmin = admin.ModelAdmin[Contact]
else:
    _ContactModelAdmin = object


class ContactPolicyAdminMixin(_ContactModelAdmin):
    """Pins inline, the divergences read-only, and the active flag in the list."""

    @admin.display(description=_("Directory says"))
    def directory_divergences(self, contact: Contact) -> str:
        rows = pinned_divergences([contact]).get(contact.pk, [])
        if not rows:
            return "—"
        return format_html_join(
            "; ",
            "{}: “{}” (kept: “{}”)",
            ((row["label"], row["directory"], row["local"]) for row in rows),
        )

    def save_formset(self, request, form, formset, change) -> None:
        """A new pin remembers who set it."""
        if formset.model is ContactPin:
            for pin in formset.save(commit=False):
                if pin.pk is None:
                    pin.pinned_by = signed_in_user(request)
                pin.save()
            for pin in formset.deleted_objects:
                pin.delete()
            return
        super().save_formset(request, form, formset, change)


def _after(fields: list[str], anchor: str, name: str) -> list[str]:
    """`fields` with `name` inserted after `anchor` (at the end without it)."""
    at = fields.index(anchor) + 1 if anchor in fields else len(fields)
    return [*fields[:at], name, *fields[at:]]


admin.site.unregister(Contact)


@admin.register(Contact)
class PolicyContactAdmin(ContactPolicyAdminMixin, ContactAdmin):
    """The contact admin with its pinned fields and what the directory says about them."""

    readonly_fields = _after(list(ContactAdmin.readonly_fields), "mailbox_purpose", "directory_divergences")
    inlines = [*ContactAdmin.inlines, ContactPinInline]
