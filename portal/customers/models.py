"""Customers of the MSP, their sites (offices), contacts (end users) and
which portal users may see them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Plan(models.TextChoices):
    """Commercial plans; `AZURE_SYNC_PLANS` says which include the Entra sync."""

    STARTER = "starter", _("Starter")
    PROFESSIONAL = "professional", _("Professional")
    ENTERPRISE = "enterprise", _("Enterprise")
    SUPERPOWER = "superpower", _("Superpower")


class Customer(models.Model):
    """A company the MSP serves."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    plan = models.CharField(_("plan"), max_length=20, choices=Plan.choices, default=Plan.PROFESSIONAL)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.name

    @property
    def azure_sync_available(self) -> bool:
        """Whether the customer's plan includes the Entra ID sync (R17)."""
        return self.plan in settings.AZURE_SYNC_PLANS


class Site(models.Model):
    """An office of a customer; contacts are placed in sites."""

    # Indexed by the unique (customer, name) constraint.
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="sites", db_index=False
    )
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["customer__name", "name"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.UniqueConstraint(fields=["customer", "name"], name="site_name_unique_per_customer"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """An end user of a customer, typed by hand or synced from Entra ID."""

    # Both keys lead an index of Meta (the email constraint, the site listing's index).
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="contacts",
        db_index=False,
    )
    site = models.ForeignKey(
        Site,
        verbose_name=_("site"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        db_index=False,
    )
    email = models.EmailField(_("email"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=64, blank=True)
    last_name = models.CharField(_("last name"), max_length=64, blank=True)
    job_title = models.CharField(_("job title"), max_length=128, blank=True)
    mobile_phone = models.CharField(_("mobile phone"), max_length=64, blank=True)
    is_shared_mailbox = models.BooleanField(_("shared mailbox"), default=False)

    class MailboxPurpose(models.TextChoices):
        NONE = "", _("Person")
        SHARED = "shared", _("Shared mailbox")
        ROOM = "room", _("Room mailbox")
        EQUIPMENT = "equipment", _("Equipment mailbox")

    # Which kind of mailbox a synced shared mailbox is (is_shared_mailbox covers all three).
    mailbox_purpose = models.CharField(
        _("mailbox"), max_length=12, choices=MailboxPurpose.choices, blank=True, default=""
    )
    azure_object_id = models.CharField(
        _("Microsoft Entra ID object ID"), max_length=36, null=True, blank=True
    )
    # False: the directory user left (leavers policy "deactivate", design.md §6.2). Greyed out, never hidden.
    # db_default too: the sync inserts contacts in plain SQL without naming this column.
    is_active = models.BooleanField(_("active"), default=True, db_default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            # Case-insensitive per customer, enforced by the database on both
            # PostgreSQL and SQLite (an expression index).
            models.UniqueConstraint(
                "customer",
                Lower("email"),
                name="contact_email_unique_per_customer_ci",
                violation_error_message=_("A contact with this email already exists for this customer."),
            ),
        ]
        indexes = [
            models.Index(fields=["site", "last_name"], name="contact_site_name_idx"),
        ]

    def __str__(self) -> str:
        full_name = self.full_name
        return f"{full_name} <{self.email}>" if full_name else self.email

    # The fields a directory sync overwrites (R7, R9 in docs/design.md), shown as managed on synced contacts.
    DIRECTORY_FIELDS = ("first_name", "last_name", "job_title", "mobile_phone", "site")

    @property
    def is_directory_managed(self) -> bool:
        """Linked to a directory user: its directory fields follow the directory, local edits do not stick."""
        return bool(self.azure_object_id)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactPin(models.Model):
    """A field of a contact a technician keeps local: the sync leaves it and shows the
    directory's value beside it instead (design.md §6.2, field ownership)."""

    # Fields a pin may hold: the synced contact fields and the site.
    FIELDS = (
        ("first_name", _("First name")),
        ("last_name", _("Last name")),
        ("job_title", _("Job title")),
        ("mobile_phone", _("Mobile phone")),
        ("site", _("Site")),
    )

    # Indexed by the unique (contact, field) constraint.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="pins", db_index=False)
    field = models.CharField(_("field"), max_length=20, choices=FIELDS)
    pinned_at = models.DateTimeField(auto_now_add=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["contact", "field"]
        constraints = [models.UniqueConstraint(fields=["contact", "field"], name="contact_pin_unique_field")]

    def __str__(self) -> str:
        return f"{self.contact}: {self.field}"


class Membership(models.Model):
    """Gives a portal user access to one customer, as admin or member."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        MEMBER = "member", _("Member")

    # Indexed by the unique (user, customer) constraint.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["customer__name", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "customer"], name="membership_unique_user_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.customer} ({self.get_role_display()})"
