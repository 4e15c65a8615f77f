"""`manage.py seed_demo`: load the demo customers and print the demo logins."""

from django.core.management.base import BaseCommand

from portal.customers.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo customers, sites, contacts and users (idempotent) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", help="Give every demo user this password instead of a new random one."
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Base URL of the portal, for the printed links."
        )

    def handle(self, *args, password=None, url="", **options):
        result = seed_demo(password=password)
        base = url.rstrip("/")
        self.stdout.write(
            f"Demo data: {result.customers_created} customers, {result.sites_created} sites and "
            f"{result.contacts_created} contacts created (existing ones left as they were)."
        )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Portal: {base}/    Admin site: {base}/admin/"))
        width = max(len(login.username) for login in result.logins)
        pwidth = max(len(login.password) for login in result.logins)
        for login in result.logins:
            self.stdout.write(
                f"  username: {login.username:<{width}}  password: {login.password:<{pwidth}}  "
                f"{login.description}"
            )
        self.stdout.write("")
