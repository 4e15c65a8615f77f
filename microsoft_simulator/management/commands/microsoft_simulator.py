"""Run the local Microsoft simulator, or change a running one.

    manage.py microsoft_simulator --port 8443 --users 2000 --seed 1
    manage.py microsoft_simulator mutate --tenant contoso --set-title USER "New title"
    manage.py microsoft_simulator knobs throttle.rate=0.2 throttle.retry_after=0.5
    manage.py microsoft_simulator users --tenant contoso --q milan

The running server writes `simulator.json` (address, CA path, admin key)
next to its CA bundle; the other subcommands read it to find the server.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _default_ca() -> Path:
    return Path(settings.BASE_DIR) / "var" / "simulator-ca.pem"


def _value(text: str) -> Any:
    """JSON if it parses ("null", "false", "3"), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


class Command(BaseCommand):
    help = "Run a local Microsoft identity platform + Graph simulator (HTTPS), or change a running one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8443)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--users", default="200", help="users per tenant, or a list: 100000,50,50")
        parser.add_argument("--tenants", type=int, default=3, help="how many tenants (the first 6 are fixed)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--ca-path", type=Path, default=_default_ca())
        parser.add_argument("--new-ca", action="store_true", help="replace the CA instead of reusing it")
        parser.add_argument("--state-file", type=Path, help="keep consents and mutations across restarts")
        parser.add_argument(
            "--consent", action="append", default=[], metavar="TENANT", help="pre-consented tenant"
        )
        parser.add_argument(
            "--knob", action="append", default=[], metavar="KEY=VALUE", help="e.g. throttle.rate=0.1"
        )
        parser.add_argument("--client-id", default="", help="default: AZURE_CLIENT_ID or the simulator's own")
        parser.add_argument(
            "--client-secret", default="", help="default: AZURE_CLIENT_SECRET or the simulator's"
        )
        parser.add_argument(
            "--browser-port",
            type=int,
            default=None,
            help="also serve the sign-in and consent pages over plain HTTP on this port (no certificate warning)",
        )
        parser.add_argument("--verbose", action="store_true", help="log every request")
        sub = parser.add_subparsers(dest="action")
        mutate = sub.add_parser("mutate", help="change a tenant of the running simulator")
        mutate.add_argument("--info", type=Path, help="the running simulator's simulator.json")
        mutate.add_argument("--tenant", required=True, help="tenant id, domain or short name (e.g. contoso)")
        group = mutate.add_mutually_exclusive_group(required=True)
        group.add_argument("--set-title", nargs=2, metavar=("USER", "TITLE"))
        group.add_argument(
            "--set", nargs=3, metavar=("USER", "PROPERTY", "VALUE"), help="VALUE is JSON or text"
        )
        group.add_argument(
            "--add-user", nargs="?", const="member", metavar="KIND", help="member, shared, guest..."
        )
        group.add_argument("--remove-user", metavar="USER")
        group.add_argument("--restore-user", metavar="USER_ID")
        group.add_argument(
            "--grant-consent", nargs="?", const="", metavar="ROLES", help="comma-separated roles"
        )
        group.add_argument("--revoke-consent", action="store_true")
        group.add_argument(
            "--expire-delta", action="store_true", help="invalidate every delta link issued so far"
        )
        group.add_argument("--churn", metavar="UPDATE,ADD,REMOVE", help="bulk random changes, e.g. 100,10,5")
        group.add_argument(
            "--set-group",
            nargs="+",
            metavar=("GROUP_ID", "MEMBER"),
            help="replace a group's members (user ids/UPNs or group ids: nested); creates the group",
        )
        mutate.add_argument("--permanent", action="store_true", help="with --remove-user: hard delete")
        knobs = sub.add_parser("knobs", help="show or change fault-injection knobs")
        knobs.add_argument("--info", type=Path)
        knobs.add_argument("--reset", action="store_true")
        knobs.add_argument("changes", nargs="*", metavar="KEY=VALUE")
        users = sub.add_parser("users", help="find users of a tenant (ids to mutate)")
        users.add_argument("--info", type=Path)
        users.add_argument("--tenant", required=True)
        users.add_argument("--q", default="")
        users.add_argument("--limit", type=int, default=20)
        status = sub.add_parser("status", help="tenants, consents and knobs of the running simulator")
        status.add_argument("--info", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action")
        if action is None:
            self._run(options)
            return
        info = self._info(options)
        if action == "status":
            self._print(self._call(info, "GET", "/_simulator/state"))
        elif action == "users":
            query = {"tenant": options["tenant"], "q": options["q"], "limit": options["limit"]}
            for user in self._call(info, "GET", "/_simulator/users", params=query)["users"]:
                office = (user["officeLocation"] or "").strip() or "-"
                self.stdout.write(
                    f"{user['id']}  {user['userPrincipalName']}  {user['jobTitle'] or '-'}  {office}"
                )
        elif action == "knobs":
            if options["reset"]:
                self._call(info, "POST", "/_simulator/ops", json={"op": "reset_knobs"})
            self._print(self._call(info, "POST", "/_simulator/knobs", json=_pairs(options["changes"])))
        else:
            self._print(self._call(info, "POST", "/_simulator/ops", json=self._mutation(options)))

    # -- mutate ---------------------------------------------------------------------
    def _mutation(self, options: dict[str, Any]) -> dict[str, Any]:
        tenant = options["tenant"]
        if options["set_title"]:
            user, title = options["set_title"]
            return {"op": "update_user", "tenant": tenant, "user": user, "props": {"jobTitle": title}}
        if options["set"]:
            user, prop, value = options["set"]
            return {"op": "update_user", "tenant": tenant, "user": user, "props": {prop: _value(value)}}
        if options["add_user"]:
            return {"op": "add_user", "tenant": tenant, "kind": options["add_user"]}
        if options["remove_user"]:
            return {
                "op": "remove_user",
                "tenant": tenant,
                "user": options["remove_user"],
                "permanent": options["permanent"],
            }
        if options["restore_user"]:
            return {"op": "restore_user", "tenant": tenant, "user": options["restore_user"]}
        if options["grant_consent"] is not None:
            roles = [r.strip() for r in options["grant_consent"].split(",") if r.strip()]
            return {"op": "grant_consent", "tenant": tenant, **({"roles": roles} if roles else {})}
        if options["revoke_consent"]:
            return {"op": "revoke_consent", "tenant": tenant}
        if options["expire_delta"]:
            return {"op": "expire_delta_links", "tenant": tenant}
        if options["set_group"]:
            group, *members = options["set_group"]
            return {"op": "set_group", "tenant": tenant, "group": group, "members": members}
        try:
            update, add, remove = (int(n) for n in options["churn"].split(","))
        except ValueError:
            raise CommandError("--churn takes UPDATE,ADD,REMOVE, e.g. 100,10,5") from None
        return {"op": "churn", "tenant": tenant, "update": update, "add": add, "remove": remove}

    # -- talking to a running simulator ------------------------------------------------
    def _info(self, options: dict[str, Any]) -> dict[str, Any]:
        path = options.get("info") or _default_ca().with_name("simulator.json")
        if not path.exists():
            raise CommandError(f"{path} not found: start the simulator first (or pass --info)")
        return json.loads(path.read_text(encoding="utf-8"))

    def _call(self, info: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = requests.request(
                method,
                info["base_url"] + path,
                headers={"X-Simulator-Key": info["admin_key"]},
                verify=info["ca_path"],
                timeout=30,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise CommandError(
                f"cannot reach the simulator at {info['base_url']}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise CommandError(f"simulator answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def _print(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))

    # -- run ------------------------------------------------------------------------
    def _run(self, options: dict[str, Any]) -> None:
        from microsoft_simulator.knobs import KnobBox
        from microsoft_simulator.server import start_simulator
        from microsoft_simulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

        try:
            sizes = [int(n) for n in str(options["users"]).split(",")]
            box = KnobBox()
            box.update(_pairs(options["knob"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        ca_path: Path = options["ca_path"].resolve()
        ca_key = ca_path.with_name(ca_path.stem + "-key.pem")
        if options["new_ca"]:
            ca_key.unlink(missing_ok=True)
        client_id = options["client_id"] or settings.AZURE_CLIENT_ID or DEFAULT_CLIENT_ID
        own_secret = not (options["client_secret"] or settings.AZURE_CLIENT_SECRET)
        client_secret = options["client_secret"] or settings.AZURE_CLIENT_SECRET or DEFAULT_CLIENT_SECRET
        certificate = None
        if settings.AZURE_CLIENT_CERTIFICATE_PATH and Path(settings.AZURE_CLIENT_CERTIFICATE_PATH).exists():
            certificate = Path(settings.AZURE_CLIENT_CERTIFICATE_PATH).read_bytes()
        if options["state_file"]:
            options["state_file"].parent.mkdir(parents=True, exist_ok=True)
        try:
            sim = start_simulator(
                options["port"],
                host=options["host"],
                users=sizes if len(sizes) > 1 else sizes[0],
                seed=options["seed"],
                tenants=options["tenants"],
                ca_path=ca_path,
                ca_key_path=ca_key,
                knobs=box.knobs,
                consented=options["consent"],
                client_id=client_id,
                client_secret=client_secret,
                client_certificate_pem=certificate if certificate and b"CERTIFICATE" in certificate else None,
                state_file=options["state_file"],
                verbose=options["verbose"],
                browser_port=options["browser_port"],
            )
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot start the simulator: {exc}") from None
        info_path = ca_path.with_name("simulator.json")
        summary = sim.state.summary()["tenants"]
        self._write_private(
            info_path,
            json.dumps(
                {
                    "base_url": sim.base_url,
                    "ca_path": str(sim.ca_path),
                    "admin_key": sim.admin_key,
                    "tenants": summary,
                }
            ),
        )
        exports = sim.settings()
        if not own_secret:
            exports["AZURE_CLIENT_SECRET"] = "<unchanged: your AZURE_CLIENT_SECRET>"
        exports.pop("AZURE_CLIENT_CERTIFICATE_PATH")
        env_path = ca_path.with_name("simulator.env")
        self._write_private(
            env_path, "".join(f"{k}={v}\n" for k, v in exports.items() if own_secret or "SECRET" not in k)
        )
        self._banner(sim.base_url, exports, summary, info_path, env_path, sim.admin_key)
        self._serve_until_stopped(sim)

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

    def _banner(
        self,
        base_url: str,
        exports: dict[str, str],
        tenants: list[dict[str, Any]],
        info: Path,
        env: Path,
        admin_key: str,
    ) -> None:
        write = self.stdout.write
        write(self.style.SUCCESS(f"Microsoft simulator listening on {base_url}"))
        write("\nPoint the portal at it (or: set -a; . " + str(env) + "; set +a):")
        for key, value in exports.items():
            write(f"  export {key}={value}")
        write("\nTenants (sign in as the admin on the simulated Microsoft page):")
        for tenant in tenants:
            consent = ", ".join(tenant["consent"]["roles"]) if tenant["consent"] else "not consented"
            write(f"  {tenant['name']:<20} {tenant['id']}  {tenant['users']:>7} users  {tenant['domain']}")
            write(
                f"  {'':<20} admin: {tenant['admin']['name']} <{tenant['admin']['upn']}>  consent: {consent}"
            )
        write(f"\nAdmin API key: {admin_key}  (X-Simulator-Key header on {base_url}/_simulator/...)")
        write(f"Address and key saved in {info} for `microsoft_simulator mutate|knobs|users|status`.")
        write("Ctrl+C to stop.")
        self.stdout.flush()  # the banner is the signal scripts wait for, even through a pipe

    def _serve_until_stopped(self, sim: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sim.stop()
            self.stdout.write("Simulator stopped.")
