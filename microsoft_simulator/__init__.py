"""A local Microsoft identity platform + Microsoft Graph simulator.

Used by the demo, the end-to-end tests and the benchmarks so they run without
an Azure account. Production code never imports this package: the portal
talks to it only through `AZURE_AUTHORITY_HOST`, `GRAPH_API_URL` and
`AZURE_CA_BUNDLE`. Entry points: `server.start_simulator()`,
`testing.running_simulator()` and `manage.py microsoft_simulator`.
"""
