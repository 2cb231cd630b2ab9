"""Reporting a message (PROTOCOL.md v2 "Account and safety") and the operators'
``flask chat reports`` commands."""

from __future__ import annotations

import pytest

from chatapp.services import messaging

from .conftest import assert_error


def report(caller, message_id: int, reason: object = "spam"):
    return caller.post(f"/messages/{message_id}/report", json={"reason": reason})


def test_a_member_reports_a_message_and_gets_the_reports_id(world):
    response = report(world.bob_api, world.message, "  unsolicited advertising  ")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"report"} and set(body["report"]) == {"id"}
    assert isinstance(body["report"]["id"], int)
    assert report(world.bob_api, world.message).get_json()["report"]["id"] != body["report"]["id"]


def test_a_public_rooms_reader_may_report_what_they_can_read(world):
    posted, _ = messaging.send_message(world.carol, world.room, "welcome", "w-1")
    assert report(world.api, posted["id"]).status_code == 201  # alice reads the room without joining


def test_someone_who_cannot_read_the_message_gets_not_found(world):
    assert_error(report(world.carol_api, world.message), 404, "not_found")
    assert_error(report(world.carol_api, 999999), 404, "not_found")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001, 5, None, ["spam"]])
def test_the_reason_is_one_to_a_thousand_characters(world, reason):
    error = assert_error(report(world.bob_api, world.message, reason), 400, "validation_error")
    assert "reason" in error.get("fields", {}) or "reason" in error["message"]


def test_a_thousand_characters_is_enough(world):
    assert report(world.bob_api, world.message, "é" * 1000).status_code == 201


def test_malformed_requests_are_validation_errors(world):
    assert_error(world.bob_api.post("/messages/abc/report", json={"reason": "x"}), 400, "validation_error")
    assert_error(world.bob_api.post(f"/messages/{world.message}/report", data="reason"), 400, "validation_error")


def test_reports_are_rate_limited(world, app):
    app.config.update(RATE_REPORT_BURST=2)
    for _ in range(2):
        assert report(world.bob_api, world.message).status_code == 201
    assert_error(report(world.bob_api, world.message), 429, "rate_limited")


# ---------------------------------------------------------------- flask chat reports


def test_operators_list_open_reports_and_resolve_them(app, world):
    first = report(world.bob_api, world.message, "rude").get_json()["report"]["id"]
    long_body = "buy " * 60
    posted, _ = messaging.send_message(world.alice, world.group, long_body, "long-1")
    second = report(world.bob_api, posted["id"], "spam in the team").get_json()["report"]["id"]
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["chat", "reports"])
    assert listed.exit_code == 0, listed.output
    assert f"#{first}" in listed.output and f"#{second}" in listed.output
    assert listed.output.index(f"#{first}") < listed.output.index(f"#{second}"), "oldest first"
    assert "reporter: bob  reported user: alice" in listed.output
    assert f"conversation {world.dm} ((direct))  message {world.message}: hello bob" in listed.output
    assert f"conversation {world.group} (Team)" in listed.output
    assert "reason: rude" in listed.output and "reason: spam in the team" in listed.output
    assert long_body.strip() not in listed.output and "buy buy" in listed.output, "a long message is cut"

    resolved = runner.invoke(args=["chat", "reports", "resolve", str(first), "--note", "warned alice"])
    assert resolved.exit_code == 0 and f"resolved report {first}" in resolved.output
    listed = runner.invoke(args=["chat", "reports"])
    assert f"#{first}" not in listed.output and f"#{second}" in listed.output
    everything = runner.invoke(args=["chat", "reports", "--all"])
    assert f"#{first}" in everything.output and "resolution: warned alice" in everything.output
    # Resolving again keeps the first resolution.
    again = runner.invoke(args=["chat", "reports", "resolve", str(first), "--note", "other"])
    assert again.exit_code == 0
    assert "resolution: warned alice" in runner.invoke(args=["chat", "reports", "--all"]).output


def test_resolving_an_unknown_report_fails_cleanly(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["chat", "reports", "resolve", "42"])
    assert result.exit_code != 0 and "no report 42" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(args=["chat", "reports"]).output.strip() == "no open reports"


def test_a_deleted_message_is_listed_as_deleted(app, world):
    report(world.bob_api, world.message, "nasty")
    messaging.delete_message(world.alice, world.message)
    output = app.test_cli_runner().invoke(args=["chat", "reports"]).output
    assert f"message {world.message}: (deleted)" in output and "hello bob" not in output
