"""`run_sync`: the one function that syncs a connection.

The admin action, the portal button, the scheduler task and `manage.py
azure_sync` are thin callers. A run fetches directory changes into the
mirror, classifies disabled accounts, plans against the whole mirror and
applies the plan (unless it is a dry run), recording every step on its
`SyncRun`. Any failure ends the run as failed with a safe message; the
database stays consistent and the next run converges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from integrations import health
from integrations.graph.errors import DeltaExpiredError, MicrosoftError, PageTokenExpiredError
from integrations.graph.models import GraphUser, UserPage
from integrations.graph.prefetch import prefetched_together
from integrations.lease import Heartbeat, Lease, LeaseLost
from integrations.models import AzureConnection, SyncRun
from integrations.plan_summary import summarize_plan
from integrations.policies import brake
from integrations.policies.scope import refresh_scope_members
from integrations.policies.summary import has_effect, policy_summary
from integrations.reasons import Message, message
from integrations.sync import loaders, plan_memo
from integrations.sync.apply import apply_plan
from integrations.sync.classify import EarlyClassifier, classify_disabled_users
from integrations.sync.collector import fewer_collections
from integrations.sync.mirror import mark_unseen_removed, write_page
from integrations.sync.plan import PlanSettings, SyncPlan, build_plan

logger = logging.getLogger(__name__)

MAX_NOTES = 50  # per-record notes kept on a run; the rest are counted
# A paging token that expired mid-enumeration restarts the pass, this many times at most.
MAX_PASS_RESTARTS = 3
# Pages of a full pass written in one transaction at most, when that many are waiting
# (999 users each at Microsoft's largest page: docs/performance.md, "Eighth session").
FULL_PASS_PAGES_TOGETHER = 4


class DirectoryClient(Protocol):
    """What the sync needs of the Graph client (a test or benchmark may pass its own).

    Its reads run in other threads while the run writes (`graph/prefetch.py`, the
    early classification): they may only read the directory, never the database.
    """

    requests_made: int  # Graph requests made so far, kept on the run
    read_permission: str  # the read role the token was granted ("" until known)

    def iter_user_delta(self, delta_link: str | None = None) -> Iterator[UserPage]: ...

    def get_mailbox_purposes(self, object_ids: Sequence[str]) -> dict[str, str]: ...

    def iter_group_user_ids(self, group_id: str) -> Iterator[str]: ...


def default_client_factory(tenant_id: str) -> DirectoryClient:
    from integrations.graph.client import GraphClient

    return GraphClient(tenant_id)


def run_sync(
    connection: AzureConnection,
    *,
    trigger: str,
    dry_run: bool = False,
    acting_user: User | None = None,
    run: SyncRun | None = None,
    client_factory: Callable[[str], DirectoryClient] | None = None,
) -> SyncRun:
    """Sync one connection now and return its finished `SyncRun`.

    Pass `run` to execute a run queued earlier (Sync now, the scheduler);
    otherwise one is created. A run that finds another holding the
    connection's lease is recorded as skipped.
    """
    if run is None:
        run = SyncRun.queue(connection, trigger=trigger, dry_run=dry_run, requested_by=acting_user)
    if run.status != SyncRun.Status.QUEUED:
        return run
    with transaction.atomic():  # the lease and the claim in one commit
        lease = Lease.acquire(connection.pk, run_id=run.pk)
        claimed = lease is not None and run.claim()
    if lease is None:
        # Unless another worker holds the lease for this very run (a task delivered twice): it
        # claimed the run in the commit that took the lease, so the run is no longer queued.
        if not run.skip_if_queued(gettext_noop("Another sync of this connection was already running.")):
            logger.info(
                "Sync run %s is %s and handled by another worker; not skipping it", run.pk, run.status
            )
        return run
    released = False
    memo: dict[str, Any] = {}
    try:
        if not claimed:
            return run  # another worker executed this very run (a task delivered twice)
        if lease.took_over_run is not None and lease.took_over_run != run.pk:
            _end_dead_run(lease.took_over_run)
        # Callers may hold a stale copy (delta link, mapping attribute): read it anew under the lease.
        connection = AzureConnection.objects.get(pk=connection.pk)
        with Heartbeat(lease), fewer_collections():
            memo = _execute(connection, run, lease, client_factory or default_client_factory)
    except LeaseLost as exc:
        run.stop(str(exc))
    except MicrosoftError as exc:
        run.fail(kind=exc.kind, message=_safe_message(exc))
        health.record_failure(connection, run, exc)
    except Exception as exc:
        logger.exception("Sync run %s failed unexpectedly", run.pk)
        kind = "database" if isinstance(exc, DatabaseError) else "internal"
        run.fail(
            kind=kind,
            message=gettext_noop("The sync failed because of an internal error; it has been logged."),
        )
        health.record_failure(connection, run, exc)
    else:
        if run.status != SyncRun.Status.RUNNING:
            return run  # held by the brake (nothing written; the schedule waits for a decision)
        with transaction.atomic():  # the run's end, the connection's health and the lease: one commit
            run.finish()
            if not run.dry_run:
                health.record_success(connection, run)
            if memo:
                AzureConnection.objects.filter(pk=connection.pk).update(plan_memo=memo)
            lease.release()
            released = True
    finally:
        if not released:
            lease.release()
    return run


def _end_dead_run(run_id: int) -> None:
    """The run whose dead worker's lease this run took over ends now, not at the next reaping."""
    for dead in SyncRun.objects.filter(pk=run_id, status__in=SyncRun.ACTIVE_STATUSES):
        dead.abandon(
            gettext_noop(
                "The worker running this sync stopped unexpectedly; the next run will pick up from here."
            )
        )


def _execute(
    connection: AzureConnection, run: SyncRun, lease: Lease, client_factory: Callable[[str], DirectoryClient]
) -> dict[str, Any]:
    """Fetch, classify, plan and apply; return what the run's end remembers of its plan ({}: nothing)."""
    client = client_factory(connection.tenant_id)
    notes: list[Message] = []
    warnings: list[Message] = []

    if run.approves_id is None:  # an approval re-plans the mirror its held run already read
        # Disabled accounts are classified page by page while the fetch goes on.
        early = EarlyClassifier(connection, client.get_mailbox_purposes, on_chunk=lease.renew)
        try:
            _fetch(connection, run, lease, client, notes, early)
            run.phase = "classifying"
            run.save_fields("phase", "requests_made")
            warnings = _classify(connection, run, lease, client, early)
        finally:
            early.close()
        _read_scope(connection, run, lease, client)

    run.phase = "planning"
    run.save_fields("phase")
    plan, memo = _plan_run(connection, run)
    run.warnings = [*run.warnings, *warnings, *_summarize_notes(notes)]

    # From here the run's counts, warnings and preview are written by its end (`SyncRun.finish`,
    # `hold`), or with the apply's progress: a run with nothing to write writes nothing more.
    if plan is None:  # remembered: nothing to write
        return {}
    if run.dry_run:
        run.preview = summarize_plan(plan)
        return {}
    if brake.stop_before_apply(connection, run, plan):
        return {}
    if not plan.creates and not plan.updates:
        return memo
    run.phase = "applying"
    run.progress_done, run.progress_total = 0, len(plan.creates) + len(plan.updates)
    run.save_fields("phase", "warnings", "progress_done", "progress_total", *PLAN_COUNTS)

    def report(done: int) -> None:
        run.progress_done += done
        run.save_fields("progress_done")

    result = apply_plan(plan, run=run, lease=lease, on_batch=report)
    run.created = result.created
    run.updated = result.updated
    run.fields_changed = result.field_changes
    if result.raced:
        run.warnings.append(
            message(
                gettext_noop(
                    "%(count)d contact(s) were created in the portal during the sync; "
                    "they will be updated at the next run."
                ),
                count=len(result.raced),
            )
        )
    return {}


def _read_scope(connection: AzureConnection, run: SyncRun, lease: Lease, client: DirectoryClient) -> None:
    """Group scope (design.md §6.2): the chosen groups' members, read on every run."""
    if not connection.scope_groups:
        return
    run.phase = "scoping"
    run.save_fields("phase")
    refresh_scope_members(connection, client, guard=lease.renew)


def _fetch(
    connection: AzureConnection,
    run: SyncRun,
    lease: Lease,
    client: DirectoryClient,
    notes: list[Message],
    early: EarlyClassifier,
) -> None:
    """Read directory changes into the mirror; fall back to a full pass if the delta link expired.

    A pass whose paging token expired mid-way is read again from its start
    (a few times at most): the mirror writes are idempotent.
    """
    delta_link = connection.delta_link or None
    fetched_before, notes_before = run.fetched, len(notes)
    restarts = 0

    def forget_the_pass() -> None:
        """The pass read so far is read again: its users counted and noted once."""
        run.fetched = fetched_before
        del notes[notes_before:]

    try:
        while True:
            try:
                _read_pages(connection, run, lease, client, delta_link, notes, early)
            except DeltaExpiredError:
                if delta_link is None:
                    raise
                run.warnings.append(
                    gettext_noop(
                        "The saved directory position had expired; the whole directory was read again."
                    )
                )
                delta_link = None
                forget_the_pass()  # a round may expire after some of its pages
                continue
            except PageTokenExpiredError:
                restarts += 1
                if restarts > MAX_PASS_RESTARTS:
                    raise
                logger.info("Sync run %s: a paging token expired; reading the pass again", run.pk)
                forget_the_pass()
                continue
            break
        if restarts:
            run.warnings.append(
                message(
                    gettext_noop(
                        "Microsoft's paging token expired mid-way; the directory was read again (%(count)d×)."
                    ),
                    count=restarts,
                )
            )
    finally:
        _record_requests(run, client, connection)


def _classify(
    connection: AzureConnection,
    run: SyncRun,
    lease: Lease,
    client: DirectoryClient,
    early: EarlyClassifier,
) -> list[Message]:
    try:
        return classify_disabled_users(
            connection, client.get_mailbox_purposes, on_chunk=lease.renew, early=early
        )
    finally:
        _record_requests(run, client, connection)


def _record_requests(run: SyncRun, client: DirectoryClient, connection: AzureConnection) -> None:
    """Keep the client's count of Graph requests on the run (written with its next save), and
    which read permission the client was granted."""
    run.requests_made = client.requests_made
    permission = client.read_permission
    if permission and permission != connection.read_permission:
        connection.read_permission = permission
        AzureConnection.objects.filter(pk=connection.pk).update(read_permission=permission)


def _read_pages(
    connection: AzureConnection,
    run: SyncRun,
    lease: Lease,
    client: DirectoryClient,
    delta_link: str | None,
    notes: list[Message],
    early: EarlyClassifier,
) -> None:
    full_pass = delta_link is None
    pass_started_at = timezone.now()
    run.full_pass = full_pass
    run.phase = "fetching"
    run.progress_done = 0
    run.progress_total = (loaders.mirror_size(connection) or None) if full_pass else None
    run.save_fields("phase", "fetched", "progress_done", "progress_total", "full_pass")
    final_link = None
    # A full pass writes the pages already read together (one transaction for up to
    # FULL_PASS_PAGES_TOGETHER of them) when its writes fall behind its reads; a delta
    # round writes page by page (a user in two of its pages may carry different
    # properties in each, and each page's write keeps only what it carries).
    together = FULL_PASS_PAGES_TOGETHER if full_pass else 1
    # The records Graph sent that could not be used, noted after the pass's own notes
    # (values cleaned while writing): the same notes in the same order however the pages
    # were grouped, which decides the first MAX_NOTES kept.
    dropped: list[Message] = []
    pages: list[UserPage]
    for pages in prefetched_together(client.iter_user_delta(delta_link), depth=together, most=together):
        users: list[GraphUser] = []
        for page in pages:
            dropped.extend(page.problems)
            users.extend(page.users)
            if page.delta_link:
                final_link = page.delta_link
        if not users:  # a delta round without changes: nothing to write
            continue
        # One transaction per write: its rows, the run's progress and the mailbox purposes
        # answered meanwhile (a few statements, one commit; the write's lease check covers all).
        counts = run.fetched, run.progress_done
        try:
            with transaction.atomic():
                result = write_page(
                    connection, users, seen_at=timezone.now(), full_pass=full_pass, guard=lease.renew
                )
                run.fetched += result.received
                run.progress_done += result.received
                run.save_fields("fetched", "progress_done")
                early.page_written(users, result.new_disabled)
        except BaseException:
            run.fetched, run.progress_done = counts  # the write was rolled back: its count too
            raise
        notes.extend(result.notes)
    notes.extend(dropped)
    if final_link is None:
        # A delta enumeration always ends with a delta link; without one the
        # listing is incomplete and must not be treated as the whole directory.
        raise DeltaExpiredError("Microsoft Graph ended the user listing without a delta link.")
    if full_pass:
        lease.renew()
        mark_unseen_removed(connection, pass_started_at=pass_started_at)
    now = timezone.now()
    lease.renew(  # the new position is saved only while the lease is ours
        delta_link=final_link,
        delta_link_saved_at=now,
        **({"full_pass_completed_at": now} if full_pass else {}),
    )
    connection.delta_link = final_link


def plan_for_connection(
    connection: AzureConnection,
    *,
    mapping: dict[str, int] | None = None,
    attribute: str | None = None,
    new_sites: dict[int, str] | None = None,
    policy: dict[str, object] | None = None,
) -> SyncPlan:
    """The plan for a connection from its mirror.

    `mapping`, `attribute` and `new_sites` (placeholder ids of sites still to
    be created) let the mapping editor preview unsaved choices; `policy`
    (field name → value) lets the policy page preview unsaved policies.
    """
    inputs = _plan_settings(
        connection, mapping=mapping, attribute=attribute, new_sites=new_sites, policy=policy
    )
    return _build(connection, inputs)


def _plan_settings(
    connection: AzureConnection,
    *,
    mapping: dict[str, int] | None = None,
    attribute: str | None = None,
    new_sites: dict[int, str] | None = None,
    policy: dict[str, object] | None = None,
) -> PlanSettings:
    """The plan's inputs besides the mirror and the contacts."""
    return PlanSettings(
        attribute=loaders.MIRROR_ATTRIBUTE[attribute or connection.mapping_attribute],
        site_by_value=mapping if mapping is not None else loaders.site_by_value(connection),
        site_names={**loaders.site_names(connection.customer_id), **(new_sites or {})},
        policy=loaders.plan_policy(connection, **(policy or {})),
    )


def _build(connection: AzureConnection, settings: PlanSettings) -> SyncPlan:
    return build_plan(
        users=loaders.mirror_users(connection),
        contacts=loaders.contact_states(connection.customer_id),
        **settings,
    )


def _plan_run(connection: AzureConnection, run: SyncRun) -> tuple[SyncPlan | None, dict[str, Any]]:
    """The run's plan and what to remember of it, or (None, {}) when the inputs are those of a
    remembered plan that had nothing to write: its counts are then the run's (`plan_memo`).

    The fingerprint is taken first only when the run read no change from Entra (a
    remembered plan can then apply); otherwise the mirror changed, the plan is built at
    once, and the fingerprint is taken after it, in the same snapshot, only when there
    is something to remember.
    """
    remembering = not run.dry_run and run.approves_id is None
    print_: str | None = None
    remembered: dict[str, Any] | None = None
    plan: SyncPlan | None = None
    with plan_memo.one_snapshot():
        settings = _plan_settings(connection)
        if remembering and not run.fetched:
            print_ = plan_memo.fingerprint(connection, settings)
            remembered = plan_memo.recall(connection, print_)
        if remembered is None:
            plan = _build(connection, settings)
            if remembering and print_ is None and not (plan.creates or plan.updates):
                print_ = plan_memo.fingerprint(connection, settings)
    # Recorded after the read-only snapshot: a write in it could meet a concurrent one.
    if remembered is not None:
        _record_remembered(run, remembered)
        return None, {}
    assert plan is not None
    _record_plan(run, plan)
    if plan.creates or plan.updates:
        return plan, {}
    return plan, plan_memo.memo_of(run, print_)


PLAN_COUNTS = ("created", "updated", "unchanged", "skipped", "skipped_by_reason", "fields_changed")


def _record_plan(run: SyncRun, plan: SyncPlan) -> None:
    """The plan's counts on the run (in memory: written with the apply's progress or by the run's end)."""
    run.created = len(plan.creates)
    run.updated = plan.updated
    run.unchanged = plan.unchanged + (len(plan.updates) - plan.updated)
    run.skipped = plan.skipped
    run.skipped_by_reason = dict(sorted(plan.skips.items()))
    run.fields_changed = plan.field_change_count
    _record_policy_effects(run, plan)


def _record_remembered(run: SyncRun, remembered: dict[str, Any]) -> None:
    """A remembered plan's counts on the run: nothing to create or update, as when it was planned."""
    run.created = run.updated = run.fields_changed = 0
    run.unchanged = remembered["unchanged"]
    run.skipped = remembered["skipped"]
    run.skipped_by_reason = remembered["skipped_by_reason"]
    _record_policy_summary(run, remembered["policy_summary"])


def _record_policy_effects(run: SyncRun, plan: SyncPlan) -> None:
    """Deactivations, renames and pinned fields' divergences on the run (design.md §6.2)."""
    _record_policy_summary(run, policy_summary(plan))


def _record_policy_summary(run: SyncRun, summary: dict[str, Any] | None) -> None:
    if summary and has_effect(summary):
        run.policy_summary = summary
        run.save_fields("policy_summary")


def _summarize_notes(notes: list[Message]) -> list[Message]:
    if len(notes) <= MAX_NOTES:
        return list(notes)
    more = message(
        gettext_noop("… and %(count)d more records with the same kind of note."), count=len(notes) - MAX_NOTES
    )
    return [*notes[:MAX_NOTES], more]


def _safe_message(exc: MicrosoftError) -> str:
    from portal.log_redaction import redact

    return redact(exc.message)[:1000]
