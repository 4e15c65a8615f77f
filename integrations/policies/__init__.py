"""The connection's policies as the sync applies them (docs/design.md §6.1, §6.2): the
mass-change brake, the group scope's members and what a plan's policies do."""
