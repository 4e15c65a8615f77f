"""Shared argument handling of the `azure_*` management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from integrations.models import AzureConnection
from portal.customers.models import Customer


def resolve_customer(reference: str) -> Customer:
    """A customer by id or by exact (case-insensitive) name, or a one-line error."""
    reference = reference.strip()
    if reference.isdigit():
        customer = Customer.objects.filter(pk=int(reference)).first()
        if customer:
            return customer
    customer = Customer.objects.filter(name__iexact=reference).first()
    if customer is None:
        raise CommandError(f"No customer named or numbered {reference!r}.")
    return customer


def resolve_connection(reference: str) -> AzureConnection:
    customer = resolve_customer(reference)
    connection = AzureConnection.objects.filter(customer=customer).first()
    if connection is None:
        raise CommandError(
            f"{customer.name} has no Microsoft Entra ID connection. Connect it first (azure_connect)."
        )
    return connection


def format_run(run) -> str:
    """A readable one-paragraph summary of a finished run."""
    duration = f"{run.duration.total_seconds():.1f}s" if run.duration else "-"
    lines = [
        f"Run #{run.pk} {run.get_status_display().lower()}{' (dry run)' if run.dry_run else ''} in {duration}: "
        f"fetched {run.fetched}, created {run.created}, updated {run.updated} "
        f"({run.fields_changed} fields), unchanged {run.unchanged}, skipped {run.skipped}."
    ]
    for reason, count in run.skipped_by_reason.items():
        lines.append(f"  skipped {count}: {reason.replace('_', ' ')}")
    lines.extend(f"  warning: {warning}" for warning in run.warning_texts)
    if run.error:
        lines.append(f"  error: {run.error_text}")
    return "\n".join(lines)


def resolve_run(reference: str):
    """A run by id, or a one-line error."""
    from integrations.models import SyncRun

    reference = str(reference).strip().lstrip("#")
    run = (
        SyncRun.objects.select_related("customer", "connection").filter(pk=int(reference)).first()
        if reference.isdigit()
        else None
    )
    if run is None:
        raise CommandError(f"No sync run numbered {reference!r}.")
    return run
