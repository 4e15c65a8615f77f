"""The staff side of the Entra ID integration (Django admin).

Connections, runs and the audit log are read-only here: every change goes
through a service (`integrations.services`), called from an action or a
custom admin view. Only integration staff (`integrations.manage_azure`, or
superusers) see or use any of it.
"""

# `customers` and `contacts` extend the customers app's admins and register them in their place.
from integrations.admin import audit, connections, contacts, customers, runs  # noqa: F401  (registers the admins)
