"""The Microsoft Entra ID connection of a customer, its directory mirror and mapping,
the sync runs and the field-level audit log.

Nothing secret is stored here (rule R2): no password, token or app secret.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from integrations.directory_fields import MAX_LENGTHS, OBJECT_ID_LENGTH
from integrations.reasons import shown, translated
from integrations.values import value_key
from portal.customers.models import Contact, Customer, Site


class MappingAttribute(models.TextChoices):
    """The Entra attribute that places users in sites (R4)."""

    OFFICE = "officeLocation", _("Office (officeLocation)")
    DEPARTMENT = "department", _("Department")


class Health(models.TextChoices):
    """Whether automatic syncs run for a connection, and why not."""

    HEALTHY = "healthy", _("Healthy")
    BACKING_OFF = "backing_off", _("Retrying after a failure")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    QUARANTINED = "quarantined", _("Quarantined")


class PauseReason(models.TextChoices):
    """Why automatic syncs of a connection are paused (docs/design.md §6.1); a person resumes them."""

    MANUAL = "manual", _("Paused by an administrator")
    REJECTED = "rejected", _("Paused after a held run was rejected")
    UNDO = "undo", _("Paused after an undo")


class Leavers(models.TextChoices):
    """What happens to a contact whose directory user left (design.md §6.2)."""

    KEEP = "keep", _("Keep the contact as it is")
    DEACTIVATE = "deactivate", _("Deactivate the contact (reactivated if the user comes back)")


class Identity(models.TextChoices):
    """How a directory user finds its contact (design.md §6.2)."""

    EMAIL = "email", _("By email (an email change makes a new contact)")
    OBJECT = "object", _("By directory object (the contact follows renames)")


class AzureConnection(models.Model):
    """A customer's connected Microsoft Entra ID tenant (one per customer, R11)."""

    customer = models.OneToOneField(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="azure_connection"
    )
    tenant_id = models.CharField(_("tenant ID"), max_length=36, unique=True)
    tenant_name = models.CharField(_("tenant name"), max_length=256, blank=True)
    mapping_attribute = models.CharField(
        _("mapping attribute"),
        max_length=20,
        choices=MappingAttribute.choices,
        default=MappingAttribute.OFFICE,
    )
    connected_at = models.DateTimeField(_("connected at"), default=timezone.now)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("connected by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_sync_at = models.DateTimeField(_("last sync at"), null=True, blank=True)
    next_sync_at = models.DateTimeField(_("next sync at"), null=True, blank=True, db_index=True)

    # Where the next incremental fetch starts. A Graph URL, not a credential.
    delta_link = models.TextField(_("delta link"), blank=True)
    delta_link_saved_at = models.DateTimeField(_("delta link saved at"), null=True, blank=True)
    # Set when the last full enumeration of the tenant finished.
    full_pass_completed_at = models.DateTimeField(_("full pass completed at"), null=True, blank=True)
    # The last plan that had nothing to write: its inputs' fingerprint and its counts
    # (integrations/sync/plan_memo.py). Not a setting; never shown.
    plan_memo = models.JSONField(_("remembered plan"), default=dict, blank=True, editable=False)
    # None until we learn whether MailboxSettings.Read was granted.
    mailbox_settings_readable = models.BooleanField(_("mailbox settings readable"), null=True, blank=True)
    # The application permission that lets the app read users, from the last token's `roles`
    # (User.Read.All, or a broader one that includes it); blank until a sync has run.
    read_permission = models.CharField(_("read permission"), max_length=40, blank=True)

    health = models.CharField(_("health"), max_length=20, choices=Health.choices, default=Health.HEALTHY)
    health_reason = models.TextField(_("health reason"), blank=True)  # a message id (reasons.py)
    # The values the health reason names (failures in a row, the last error), kept apart so
    # that the reason reads in each reader's language.
    health_reason_params = models.JSONField(
        _("health reason values"), default=dict, blank=True, editable=False
    )
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)

    # The run lease: one sync at a time per connection (works on SQLite too).
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    # Which run holds it, in which process on which machine: a holder that died
    # (a killed worker) is recognised on its machine without waiting for the expiry.
    lease_holder = models.JSONField(_("lease holder"), null=True, blank=True)

    # Paused: no automatic sync and no Sync now until someone resumes (docs/design.md §6.1).
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=10, choices=PauseReason.choices, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("paused by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The mass-change brake; None: the global default (settings.AZURE_BRAKE_*).
    brake_percent = models.PositiveSmallIntegerField(
        _("brake: share of synced contacts (%)"), null=True, blank=True
    )
    brake_minimum = models.PositiveIntegerField(
        _("brake: at least this many contacts"), null=True, blank=True
    )

    # Policies (design.md §6.2); the defaults are the seed's behaviour.
    leavers = models.CharField(_("Leavers"), max_length=10, choices=Leavers.choices, default=Leavers.KEEP)
    identity = models.CharField(
        _("Identity"), max_length=10, choices=Identity.choices, default=Identity.EMAIL
    )
    # Object ids of Entra groups whose (transitive) members are in scope; empty: everyone.
    scope_groups = models.JSONField(_("scope groups"), default=list, blank=True)
    licensed_only = models.BooleanField(_("Licensed users only"), default=False)
    # Synced contact fields the portal owns: the sync never writes them.
    portal_owned_fields = models.JSONField(_("Portal-owned fields"), default=list, blank=True)

    class Meta:
        ordering = ["customer__name"]
        permissions = [("manage_azure", "Can connect, map, sync and disconnect Microsoft Entra ID tenants")]
        verbose_name = _("Microsoft Entra ID connection")
        verbose_name_plural = _("Microsoft Entra ID connections")

    def __str__(self) -> str:
        return f"{self.customer} → {self.tenant_name or self.tenant_id}"

    @property
    def health_reason_text(self) -> str:
        """The health reason in the active language."""
        return translated(self.health_reason, self.health_reason_params)

    @property
    def is_mapped(self) -> bool:
        return self.mappings.exists()

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    # -- pause state: conditional updates, so two clicks never disagree ----------
    def pause(self, reason: str, *, by=None) -> bool:
        """Pause automatic syncs (or change why they are paused); False if already paused for `reason`."""
        user = by if by is not None and by.is_authenticated else None
        now = timezone.now()
        changed = (
            AzureConnection.objects.filter(pk=self.pk)
            .exclude(paused_at__isnull=False, pause_reason=reason)
            .update(paused_at=now, pause_reason=reason, paused_by=user)
        )
        if changed:
            self.paused_at, self.pause_reason, self.paused_by = now, reason, user
        return bool(changed)

    def resume(self) -> bool:
        """Let syncs run again; False if the connection was not paused."""
        changed = AzureConnection.objects.filter(pk=self.pk, paused_at__isnull=False).update(
            paused_at=None, pause_reason="", paused_by=None
        )
        self.paused_at, self.pause_reason, self.paused_by = None, "", None
        return bool(changed)

    @property
    def read_permission_note(self) -> str:
        """Says so when the tenant granted more than User.Read.All, which is all the sync needs."""
        from django.utils.translation import gettext

        if not self.read_permission or self.read_permission == "User.Read.All":
            return ""
        if "ReadWrite" in self.read_permission:
            return gettext(
                "Your tenant granted the portal %(permission)s, which also allows changes. The portal only "
                "reads users: User.Read.All is enough, and a tenant administrator may grant that instead."
            ) % {"permission": self.read_permission}
        return gettext(
            "Your tenant granted the portal %(permission)s, which reads more than users. "
            "User.Read.All is all the portal needs."
        ) % {"permission": self.read_permission}


class DirectoryUser(models.Model):
    """The mirror of one Entra user object, as last read from Graph.

    The plan reads this table, not the network, so a mapping change or a local
    edit is reconciled without refetching (R9).
    """

    class Purpose(models.TextChoices):
        UNKNOWN = "", _("Not classified")
        USER = "user", _("User")
        SHARED = "shared", _("Shared mailbox")
        ROOM = "room", _("Room mailbox")
        EQUIPMENT = "equipment", _("Equipment mailbox")
        LINKED = "linked", _("Linked mailbox")
        OTHERS = "others", _("Other")
        NO_MAILBOX = "none", _("No mailbox")

    # Indexed by the unique (connection, object_id) constraint; its own index would only slow writes.
    connection = models.ForeignKey(
        AzureConnection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="directory_users",
        db_index=False,
        db_constraint=False,
    )
    object_id = models.CharField(_("object ID"), max_length=OBJECT_ID_LENGTH)
    display_name = models.CharField(_("display name"), max_length=MAX_LENGTHS["display_name"], blank=True)
    given_name = models.CharField(_("given name"), max_length=MAX_LENGTHS["given_name"], blank=True)
    surname = models.CharField(_("surname"), max_length=MAX_LENGTHS["surname"], blank=True)
    job_title = models.CharField(_("job title"), max_length=MAX_LENGTHS["job_title"], blank=True)
    mobile_phone = models.CharField(_("mobile phone"), max_length=MAX_LENGTHS["mobile_phone"], blank=True)
    mail = models.CharField(_("email"), max_length=MAX_LENGTHS["mail"], blank=True)
    user_principal_name = models.CharField(
        _("user principal name"), max_length=MAX_LENGTHS["user_principal_name"], blank=True
    )
    office_location = models.CharField(
        _("office location"), max_length=MAX_LENGTHS["office_location"], blank=True
    )
    department = models.CharField(_("department"), max_length=MAX_LENGTHS["department"], blank=True)
    account_enabled = models.BooleanField(_("account enabled"), null=True)
    user_type = models.CharField(_("user type"), max_length=MAX_LENGTHS["user_type"], blank=True)
    has_license = models.BooleanField(_("has license"), null=True)
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose.choices, blank=True, default="")
    removed = models.BooleanField(_("removed"), default=False)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)

    class Meta:
        ordering = ["object_id"]
        verbose_name = _("directory user")
        verbose_name_plural = _("directory users")
        constraints = [
            models.UniqueConstraint(fields=["connection", "object_id"], name="directory_user_unique_object"),
        ]

    def __str__(self) -> str:
        return self.mail or self.user_principal_name or self.object_id


class ScopeGroupMember(models.Model):
    """A user in a scope group (transitively), as last read from Graph; the plan reads
    this, not the network, so a preview needs no Microsoft call."""

    # Indexed by the unique (connection, group_id, object_id) constraint.
    connection = models.ForeignKey(
        AzureConnection, on_delete=models.CASCADE, related_name="scope_members", db_index=False
    )
    group_id = models.CharField(max_length=36)
    object_id = models.CharField(max_length=36)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "group_id", "object_id"], name="scope_group_member_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.object_id}"


class SiteMapping(models.Model):
    """Places directory users whose attribute value matches `value` in `site` (R4)."""

    # Indexed by the unique (connection, value_key) constraint.
    connection = models.ForeignKey(
        AzureConnection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="mappings",
        db_index=False,
    )
    value = models.CharField(_("value"), max_length=128)
    # `value` trimmed and case-folded: what matching compares.
    value_key = models.CharField(_("value key"), max_length=128, editable=False)
    site = models.ForeignKey(
        Site, verbose_name=_("site"), on_delete=models.CASCADE, related_name="azure_mappings"
    )

    class Meta:
        ordering = ["value"]
        verbose_name = _("site mapping")
        verbose_name_plural = _("site mappings")
        constraints = [
            models.UniqueConstraint(fields=["connection", "value_key"], name="site_mapping_unique_value"),
        ]

    def __str__(self) -> str:
        return f"{self.value} → {self.site}"

    def save(self, *args, **kwargs) -> None:
        self.value = self.value.strip()
        self.value_key = self.key_for(self.value)
        super().save(*args, **kwargs)

    @staticmethod
    def key_for(value: str | None) -> str:
        """How attribute values compare: trimmed, case-insensitive."""
        return value_key(value)


class SyncRun(models.Model):
    """One execution (or attempt) of the sync for a customer."""

    class Trigger(models.TextChoices):
        INITIAL = "initial", _("Initial import")
        SCHEDULED = "scheduled", _("Scheduled")
        MANUAL = "manual", _("Sync now")
        COMMAND = "command", _("Command line")
        UNDO = "undo", _("Undo")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")
        HELD = "held", _("Held for approval")

    class Decision(models.TextChoices):
        """What a person decided about a held run."""

        PENDING = "", _("Waiting for a decision")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    # Why a run was cancelled, in the portal's words: message ids, shown by `error_text`.
    DISCONNECTED = gettext_noop("Cancelled: the connection was disconnected.")
    STOPPED = gettext_noop("Stopped: %(reason)s")

    RESULT_FIELDS = (
        "status",
        "finished_at",
        "phase",
        "error",
        "error_params",
        "error_kind",
        "warnings",
        "preview",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "skipped_by_reason",
        "fields_changed",
        "progress_done",
        "progress_total",
        "requests_made",
    )

    # Both keys lead an index of Meta.
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="sync_runs",
        db_index=False,
    )
    connection = models.ForeignKey(
        AzureConnection,
        verbose_name=_("connection"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        db_index=False,
    )
    tenant_id = models.CharField(_("tenant ID"), max_length=36, blank=True)
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    dry_run = models.BooleanField(_("preview only"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    full_pass = models.BooleanField(_("full pass"), default=False)

    fetched = models.PositiveIntegerField(_("read from the directory"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    skipped_by_reason = models.JSONField(_("skipped by reason"), default=dict, blank=True)
    fields_changed = models.PositiveIntegerField(_("fields changed"), default=0)

    progress_done = models.PositiveIntegerField(_("progress done"), default=0)
    progress_total = models.PositiveIntegerField(_("progress total"), null=True, blank=True)
    phase = models.CharField(_("phase"), max_length=20, blank=True)
    # Microsoft Graph HTTP requests the run sent (retries included): round trips bound a real import.
    requests_made = models.PositiveIntegerField(_("Graph requests"), default=0)

    # Messages (`reasons.message`): English ids and the values they name, shown by `warning_texts`.
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    # Readable and sanitized: never a token, never a stack trace. The portal's own words are
    # a message id, with the values it names in `error_params` (shown by `error_text`).
    error = models.TextField(_("error"), blank=True)
    error_params = models.JSONField(_("error values"), default=dict, blank=True)
    error_kind = models.CharField(_("error kind"), max_length=30, blank=True)
    # For dry runs: a sample of the planned changes (the preview).
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    # What the connection's policies did (design.md §6.2): deactivated, reactivated, renamed,
    # and the pinned fields whose directory value differs ({"count": n, "sample": [...]}).
    policy_summary = models.JSONField(_("policy summary"), default=dict, blank=True)

    # Safety net (docs/design.md §6.1): the run an undo reverts, the held run an approval applies,
    # and what a person decided about this run if it was held.
    undoes = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="undo_runs"
    )
    approves = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="approval_runs"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="syncrun_customer_recent_idx"),
            models.Index(fields=["connection", "status"], name="syncrun_connection_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} sync of {self.customer} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_awaiting_decision(self) -> bool:
        return self.status == self.Status.HELD and not self.decision

    @property
    def error_text(self) -> str:
        """The run's error in the active language (Microsoft's own messages stay as they came)."""
        return translated(self.error, self.error_params)

    @property
    def warning_texts(self) -> list[str]:
        """The run's warnings in the active language (the reader's, not the one of whoever started it)."""
        return [shown(warning) for warning in self.warnings]

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @classmethod
    def queue(
        cls, connection: AzureConnection, *, trigger: str, dry_run: bool = False, requested_by=None
    ) -> SyncRun:
        """A new queued run of `connection`, requested by a (logged-in) user or by the system."""
        user = requested_by if requested_by is not None and requested_by.is_authenticated else None
        return cls.objects.create(
            customer_id=connection.customer_id,
            connection=connection,
            tenant_id=connection.tenant_id,
            trigger=trigger,
            dry_run=dry_run,
            requested_by=user,
        )

    def save_fields(self, *fields: str) -> None:
        """Persist only the named fields (runs are updated while they work)."""
        self.save(update_fields=list(fields))

    # -- life cycle: queued → running → succeeded | failed | cancelled; or skipped
    def start(self) -> None:
        self.status = self.Status.RUNNING
        self.started_at = timezone.now()
        self.save_fields("status", "started_at")

    def finish(self) -> None:
        self._end(self.Status.SUCCEEDED)

    def fail(self, *, kind: str, message: str) -> None:
        # A run held and then failing keeps no values of the brake's reason.
        self.error_kind, self.error, self.error_params = kind, message, {}
        self._end(self.Status.FAILED)

    def cancel(self, reason: str, params: dict | None = None) -> None:
        """`reason`: a message id (`gettext_noop`), put together with `params` when shown."""
        self.error, self.error_params = reason, params or {}
        self._end(self.Status.CANCELLED)

    def stop(self, why: str) -> None:
        """running → cancelled: the run lost its lease (`why`: the LeaseLost's message id)."""
        self.cancel(self.STOPPED, {"reason": why})

    def claim(self) -> bool:
        """queued → running, only if still queued: of two workers handed the same run, one executes it."""
        now = timezone.now()
        claimed = SyncRun.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING, started_at=now
        )
        if claimed:
            self.status, self.started_at = self.Status.RUNNING, now
        else:
            self.refresh_from_db()
        return bool(claimed)

    def abandon(self, reason: str) -> bool:
        """queued or running → failed, because no live worker will finish it (the reaper's verdict);
        False if the run moved on meanwhile (a worker claimed or finished it)."""
        now = timezone.now()
        abandoned = SyncRun.objects.filter(pk=self.pk, status=self.status).update(
            status=self.Status.FAILED, finished_at=now, error=reason, error_kind="abandoned"
        )
        if abandoned:
            self.status, self.finished_at, self.error, self.error_kind = (
                self.Status.FAILED,
                now,
                reason,
                "abandoned",
            )
        return bool(abandoned)

    @classmethod
    def cancel_queued(cls, connection: AzureConnection, reason: str) -> int:
        """queued → cancelled for every waiting run of `connection` (a disconnect, R14)."""
        return cls.objects.filter(connection=connection, status=cls.Status.QUEUED).update(
            status=cls.Status.CANCELLED, finished_at=timezone.now(), error=reason
        )

    def skip_if_queued(self, reason: str) -> bool:
        """queued → skipped (another run held the connection); False if a worker already took it."""
        skipped = SyncRun.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.SKIPPED, finished_at=timezone.now(), error=reason, phase=""
        )
        self.refresh_from_db()
        return bool(skipped)

    def hold(self, preview: dict, reason: str, params: dict | None = None) -> bool:
        """running → held: the brake stopped the run before it wrote anything. `reason` is a
        message id (`gettext_noop`), put together with `params` in each reader's language."""
        self.preview, self.error, self.error_params = preview, reason, params or {}
        self.status, self.finished_at, self.phase = self.Status.HELD, timezone.now(), ""
        values = {name: getattr(self, name) for name in self.RESULT_FIELDS}
        held = SyncRun.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**values)
        if not held:
            self.refresh_from_db()
        return bool(held)

    def decide(self, decision: str, *, by=None) -> bool:
        """Record the one decision on a held run; False if it was already decided (a replay)."""
        user = by if by is not None and by.is_authenticated else None
        now = timezone.now()
        decided = SyncRun.objects.filter(pk=self.pk, status=self.Status.HELD, decision="").update(
            decision=decision, decided_by=user, decided_at=now
        )
        if decided:
            self.decision, self.decided_by, self.decided_at = decision, user, now
        else:
            self.refresh_from_db()
        return bool(decided)

    def _end(self, status: str) -> None:
        self.status = status
        self.finished_at = timezone.now()
        self.phase = ""
        # Never the connection: it may have been deleted (disconnect) meanwhile.
        self.save_fields(*self.RESULT_FIELDS)


class FieldChange(models.Model):
    """One audited change the sync made: a created contact or an overwritten field (R16)."""

    CREATED = "created"
    DELETED = "deleted"  # by an undo; old_value keeps the contact's fields (JSON) so it can be re-created

    # The three keys are indexed by the composite indexes below, which lead with them:
    # single-column indexes would only add to every write of the largest table.
    # No database foreign-key constraints (design.md §8): an append-only log that
    # outlives what it describes (a deleted contact's row, kept by undo) needs none,
    # and their checks were most of the audit's cost in a large import. Django still
    # applies on_delete (CASCADE, SET_NULL) when the ORM deletes a customer, run or contact.
    run = models.ForeignKey(
        SyncRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="changes",
        db_index=False,
        db_constraint=False,
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="field_changes",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="field_changes",
        db_index=False,
        db_constraint=False,
    )
    contact_email = models.CharField(_("contact email"), max_length=254)
    field = models.CharField(_("field"), max_length=20)
    old_value = models.TextField(_("old value"), blank=True)
    new_value = models.TextField(_("new value"), blank=True)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("field change")
        verbose_name_plural = _("field changes")
        indexes = [
            models.Index(fields=["customer", "-changed_at"], name="fieldchange_customer_date_idx"),
            models.Index(fields=["run", "id"], name="fieldchange_run_idx"),
            models.Index(fields=["contact", "-changed_at"], name="fieldchange_contact_idx"),
        ]

    def __str__(self) -> str:
        if self.field == self.CREATED:
            return f"created {self.contact_email}"
        return f"{self.contact_email}: {self.field} {self.old_value!r} → {self.new_value!r}"


class HealthAlertState(models.Model):
    """What people were last told about a connection's health, so an alert goes
    once per change of state (not every run) and a recovery once it heals."""

    connection = models.OneToOneField(AzureConnection, on_delete=models.CASCADE, related_name="alert_state")
    # The health last alerted (needs_attention, quarantined), or "" when nothing is outstanding.
    alerted = models.CharField(max_length=20, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.connection}: {self.alerted or 'nothing outstanding'}"
