"""People and access in the admin: invitations, the membership rules, a User
admin that never hands out more than its user holds, and the admin's branding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from integrations.permissions import is_integration_staff
from portal.access import invitations as service
from portal.access.memberships import (
    MembershipNotAllowed,
    can_grant_admin,
    check_change,
    log_change,
    log_formset,
)
from portal.access.models import Invitation
from portal.customers.models import Customer, Membership
from portal.users import RequestUser, signed_in_user

admin.site.site_header = _("MSP Portal administration")
admin.site.site_title = _("MSP Portal admin")
admin.site.index_title = _("Run the service")

User = get_user_model()


# -- invitations -------------------------------------------------------------------
class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["customer", "email"]

    actor: RequestUser | None = None  # set per request by InvitationAdmin.get_form

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        customer, email = cleaned.get("customer"), cleaned.get("email")
        if customer is not None and not can_grant_admin(self.actor, customer):
            raise forms.ValidationError(
                _("Inviting a customer administrator needs the Entra ID integration permission or superuser.")
            )
        if customer is not None and email:
            open_one = Invitation.objects.filter(
                customer=customer, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
            )
            if open_one.exists():
                raise forms.ValidationError(
                    _("This address already has an open invitation: resend it instead.")
                )
        return cleaned


class InvitationInline(admin.TabularInline):
    """The customer's invitations and their state, on its page (actions live on the Invitations page)."""

    model = Invitation
    fields = readonly_fields = ("email", "state_label", "invited_by", "sent_at")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("Invitations of administrators")

    @admin.display(description=_("State"))
    def state_label(self, invitation: Invitation) -> str:
        return invitation.get_state_display()

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "customer", "state_label", "invited_by", "sent_at", "accepted_at"]
    list_filter = [("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["email", "customer__name"]
    list_select_related = ["customer", "invited_by"]
    autocomplete_fields = ["customer"]
    form = InvitationForm
    actions = ["resend", "revoke"]

    @admin.display(description=_("State"))
    def state_label(self, invitation: Invitation) -> str:
        return invitation.get_state_display()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return []
        return [
            "customer",
            "email",
            "role",
            "invited_by",
            "created_at",
            "sent_at",
            "send_count",
            "accepted_at",
            "accepted_by",
            "revoked_at",
        ]

    def get_fields(self, request: HttpRequest, obj=None):
        return ["customer", "email"] if obj is None else self.get_readonly_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and (
            request.user.is_superuser or is_integration_staff(request.user)
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # changed only through Resend and Revoke

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # revoked, never deleted: the list keeps its history

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request)

    has_revoke_permission = has_resend_permission

    def save_model(self, request: HttpRequest, obj: Invitation, form, change: bool) -> None:
        """Create through the service, which records the activity and sends the e-mail."""
        created = service.invitation_create(
            actor=signed_in_user(request), customer=obj.customer, email=obj.email
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(description=_("Resend the invitation (a new link)"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, service.invitation_resend, _("Resent"))

    @admin.action(description=_("Revoke the invitation"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, service.invitation_revoke, _("Revoked"))

    def _each(self, request: HttpRequest, queryset, operation, verb) -> None:
        done = []
        for invitation in queryset.select_related("customer"):
            try:
                operation(actor=request.user, invitation=invitation)
            except service.InvitationError as exc:
                self.message_user(request, f"{invitation.email}: {exc}", messages.WARNING)
                continue
            self.log_change(request, invitation, [{"changed": {"fields": [str(verb)]}}])
            done.append(invitation.email)
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}.", messages.SUCCESS)


# -- memberships ---------------------------------------------------------------------
class MembershipForm(forms.ModelForm):
    """Refuses changes to one's own membership and customer-admin grants without the permission."""

    class Meta:
        model = Membership
        fields = ["user", "customer", "role"]

    actor: RequestUser | None = None  # set per request

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.actor is None:
            return cleaned
        user = cleaned.get("user") or getattr(self.instance, "user", None)
        # In the Customer page's inline the customer is the (maybe unsaved) parent.
        customer = cleaned.get("customer") or getattr(self.instance, "customer", None)
        old_role = self.initial.get("role") if self.instance.pk else None
        old_user = self.instance.user_id if self.instance.pk else None
        try:
            if old_user is not None and user is not None and old_user != user.pk:
                check_change(
                    self.actor, user_id=old_user, customer=customer, old_role=old_role, new_role=None
                )
                old_role = None
            check_change(
                self.actor,
                user_id=user.pk if user else None,
                customer=customer,
                old_role=old_role,
                new_role=cleaned.get("role"),
            )
        except MembershipNotAllowed as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


class MembershipFormSet(forms.BaseInlineFormSet):
    actor: RequestUser | None = None  # set per request by MembershipInline.get_formset

    def clean(self) -> None:
        super().clean()
        if self.actor is None:
            return
        for form in self.deleted_forms:
            if form.instance.pk:
                try:
                    check_change(
                        self.actor,
                        user_id=form.instance.user_id,
                        customer=form.instance.customer,
                        old_role=form.instance.role,
                        new_role=None,
                    )
                except MembershipNotAllowed as exc:
                    raise forms.ValidationError(str(exc)) from exc


def _with_actor(form_class, request: HttpRequest):
    return type(form_class.__name__, (form_class,), {"actor": request.user})


class MembershipAdminMixin:
    """Shared by the Membership admin and the inline on the Customer page."""

    def _may_touch(self, request: HttpRequest, obj: Membership | None) -> bool:
        if obj is None:
            return True
        try:
            check_change(
                request.user, user_id=obj.user_id, customer=obj.customer, old_role=obj.role, new_role=None
            )
        except MembershipNotAllowed:
            return False
        return True


class MembershipInline(MembershipAdminMixin, admin.TabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _with_actor(formset.form, request)
        if issubclass(formset, MembershipFormSet):
            formset.actor = request.user
        return formset


@admin.register(Membership)
class MembershipAdmin(MembershipAdminMixin, admin.ModelAdmin):
    list_display = ["user", "customer", "role"]
    list_filter = ["role", ("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "customer__name"]
    autocomplete_fields = ["user", "customer"]
    list_select_related = ["user", "customer"]
    form = MembershipForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        return _with_actor(super().get_form(request, obj, change=change, **kwargs), request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        old_role = form.initial.get("role") if change else None
        super().save_model(request, obj, form, change)
        # The admin view writes its own LogEntry; the activity log gets the change.
        log_change(signed_in_user(request), obj, old_role=old_role, new_role=obj.role, admin_history=False)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self._refuse_unless_allowed(request, [obj])
        log_change(signed_in_user(request), obj, old_role=obj.role, new_role=None, admin_history=False)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        memberships = list(queryset.select_related("user", "customer"))
        self._refuse_unless_allowed(request, memberships)
        for membership in memberships:
            log_change(
                signed_in_user(request),
                membership,
                old_role=membership.role,
                new_role=None,
                admin_history=False,
            )
        super().delete_queryset(request, queryset)

    def _refuse_unless_allowed(self, request: HttpRequest, memberships) -> None:
        if not all(self._may_touch(request, membership) for membership in memberships):
            raise PermissionDenied(_("You may not remove one of these memberships."))


if TYPE_CHECKING:
    # The mixin only ever extends the Customer ModelAdmin: type it as one.
    _CustomerModelAdmin = admin.ModelAdmin[Customer]
else:
    _CustomerModelAdmin = object


class MembershipFormsetAdminMixin(_CustomerModelAdmin):
    """For the Customer admin: membership changes made through its inline reach the
    membership's own history and the activity log."""

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        before = {id(f): (f.instance.pk, f.initial.get("role")) for f in formset.initial_forms}
        super().save_formset(request, form, formset, change)
        log_formset(signed_in_user(request), formset, before)
        return None


# -- users ----------------------------------------------------------------------------
PRIVILEGED_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


class StaffSafeUserAdmin(UserAdmin):
    """Staff without superuser powers manage customer users only: they cannot
    make anyone staff or superuser, give groups or permissions, or edit a
    staff or superuser account (its password included)."""

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in PRIVILEGED_FIELDS if name not in fields]
        return fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not request.user.is_superuser and (obj.is_staff or obj.is_superuser):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffSafeUserAdmin)
