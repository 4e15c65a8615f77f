"""django-q2 task entry points: thin callers of the services and `run_sync`."""

from __future__ import annotations

import logging

from integrations.models import SyncRun
from integrations.services import undo
from integrations.services.scheduling import due_syncs_dispatch
from integrations.sync.runner import run_sync

logger = logging.getLogger(__name__)


def execute_run(run_id: int) -> str:
    """Execute one queued run (Sync now, initial import or scheduled)."""
    run = SyncRun.objects.select_related("connection").filter(pk=run_id).first()
    if run is None or run.status != SyncRun.Status.QUEUED:
        return f"run {run_id}: nothing to do"
    connection = run.connection
    if connection is None:
        run.cancel(SyncRun.DISCONNECTED)
        return f"run {run_id}: cancelled"
    if run.trigger == SyncRun.Trigger.UNDO:
        run = undo.execute_undo(run)
        return f"run {run_id}: {run.status}"
    run = run_sync(connection, trigger=run.trigger, run=run)
    return f"run {run_id}: {run.status}"


def dispatch_due_syncs() -> int:
    """The scheduler's job: queue a run for every connection whose next sync is due."""
    started = len(due_syncs_dispatch())
    if started:
        logger.info("Queued %d scheduled sync(s)", started)
    return started
