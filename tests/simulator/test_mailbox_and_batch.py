"""mailboxSettings/userPurpose and JSON $batch, the shared-mailbox signal (SPEC section 5)."""

from __future__ import annotations

from microsoft_simulator.testing import app_token
from tests.simulator.helpers import CONTOSO, FABRIKAM, graph_error


def _by_purpose(sim, purpose):
    return next(u for u in sim.state.directories[CONTOSO].users.values() if u.purpose == purpose)


def _batch(sim, http, requests_, tenant=CONTOSO):
    token = app_token(sim, tenant, http)
    return http.post(
        f"{sim.graph_url}/$batch", json={"requests": requests_}, headers={"Authorization": f"Bearer {token}"}
    )


def _purpose_request(rid, user_id):
    return {"id": rid, "method": "GET", "url": f"/users/{user_id}/mailboxSettings/userPurpose"}


def test_user_purpose_tells_users_shared_rooms_and_equipment_apart(sim, graph):
    for purpose in ("user", "shared", "room", "equipment"):
        body = graph(f"/users/{_by_purpose(sim, purpose).id}/mailboxSettings/userPurpose").json()

        assert body["value"] == purpose
        assert body["@odata.context"].endswith("/mailboxSettings/userPurpose")


def test_a_user_without_a_mailbox_answers_404(sim, graph):
    guest = next(u for u in sim.state.directories[CONTOSO].users.values() if u.userType == "Guest")

    assert graph_error(graph(f"/users/{guest.id}/mailboxSettings/userPurpose")) == (
        404,
        "MailboxNotEnabledForRESTAPI",
    )


def test_user_purpose_without_mailbox_settings_read_is_403_access_denied(sim, http):
    sim.apply("grant_consent", tenant=FABRIKAM, roles=["User.Read.All"])
    user = next(iter(sim.state.directories[FABRIKAM].users))
    token = app_token(sim, FABRIKAM, http)

    response = http.get(
        f"{sim.graph_url}/users/{user}/mailboxSettings/userPurpose",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert graph_error(response) == (403, "ErrorAccessDenied")


def test_batch_answers_each_sub_request_in_json_batch_format(sim, http):
    shared, member = _by_purpose(sim, "shared"), _by_purpose(sim, "user")
    requests_ = [
        _purpose_request("1", shared.id),
        _purpose_request("2", member.id),
        _purpose_request("3", "00000000-0000-4000-8000-000000000000"),
    ]

    response = _batch(sim, http, requests_)

    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert answers["1"]["status"] == 200
    assert answers["1"]["body"]["value"] == "shared"
    assert answers["2"]["body"]["value"] == "user"
    assert answers["3"]["status"] == 404
    assert answers["3"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert all(r["headers"]["Content-Type"].startswith("application/json") for r in answers.values())


def test_batch_responses_may_come_in_any_order(sim, http):
    users = list(sim.state.directories[CONTOSO].users)[:20]
    orders = {
        tuple(
            r["id"]
            for r in _batch(sim, http, [_purpose_request(str(i), u) for i, u in enumerate(users)]).json()[
                "responses"
            ]
        )
        for _ in range(3)
    }

    assert orders != {tuple(str(i) for i in range(20))}


def test_a_batch_of_more_than_20_requests_is_rejected(sim, http):
    users = list(sim.state.directories[CONTOSO].users)[:21]

    response = _batch(sim, http, [_purpose_request(str(i), u) for i, u in enumerate(users)])

    assert graph_error(response) == (400, "BadRequest")


def test_batch_refuses_writes_inside(sim, http):
    response = _batch(sim, http, [{"id": "1", "method": "PATCH", "url": "/users/x", "body": {}}])

    assert response.json()["responses"][0]["status"] == 403


def test_batch_sub_requests_can_be_throttled_alone(sim, http):
    sim.set_knobs(throttle={"next": 1, "path": "mailboxSettings", "retry_after": "2"})
    users = list(sim.state.directories[CONTOSO].users)[:3]

    response = _batch(sim, http, [_purpose_request(str(i), u) for i, u in enumerate(users)])

    statuses = sorted((r["status"], r["headers"].get("Retry-After")) for r in response.json()["responses"])
    assert response.status_code == 200
    assert statuses == [(200, None), (200, None), (429, "2")]
