"""The staff side of the Entra ID integration (Django admin).

Connections, runs and the audit log are read-only here: every change goes
through a service (`integrations.services`), called from an action or a
custom admin view. Only integration staff (`integrations.manage_azure`, or
superusers) see or use any of it.
"""

from integrations.admin import audit, connections, runs  # noqa: F401  (registers the admins)
