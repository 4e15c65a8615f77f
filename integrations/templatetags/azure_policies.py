"""Template tags of the policies: pinned fields' divergences beside the contacts they concern."""

from __future__ import annotations

from django import template

from integrations.policy_selectors import pinned_divergences

register = template.Library()


@register.simple_tag
def contact_divergences(contacts) -> dict[int, list[dict[str, str]]]:
    """`{% contact_divergences page.object_list as divergences %}`: contact id → what the directory says."""
    return pinned_divergences(list(contacts))


@register.filter
def for_contact(divergences: dict, contact_id: int) -> list:
    return divergences.get(contact_id, [])


@register.simple_tag
def contact_divergences_for(contact) -> dict[str, list]:
    """`{% contact_divergences_for contact as policy %}`: its pinned fields' labels and divergences."""
    from integrations.policy_selectors import LABELS

    pinned = [str(LABELS.get(field, field)) for field in contact.pins.values_list("field", flat=True)]
    return {"pinned": pinned, "divergences": pinned_divergences([contact]).get(contact.pk, [])}
