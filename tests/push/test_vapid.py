"""VAPID (RFC 8292): the JWT a push service checks, signed once per audience and
renewed before it expires; the key from configuration or generated once per
installation, never regenerated, the same for workers that start together."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.push.jose import b64url, b64url_decode
from chatapp.push.vapid import KEY_FILE, Vapid, installation_key
from config import ConfigError
from tests.support.push_service import verify_vapid

from .conftest import message_payload, webpush_target

ROOT = Path(__file__).resolve().parents[2]


def test_the_jwt_names_the_origin_a_near_expiry_and_the_subject(make_sender, push_service) -> None:
    sender = make_sender(VAPID_SUBJECT="mailto:ops@chat.example.org")
    subscription = push_service.new_subscription(server_key=sender.public_key)

    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"

    (push,) = push_service.received()
    assert push.claims["aud"] == push_service.origin  # scheme://host:port, no path
    assert push.claims["sub"] == "mailto:ops@chat.example.org"
    assert 11 * 3600 < push.claims["exp"] - push.time <= 24 * 3600
    assert push.headers["authorization"].endswith(f", k={sender.public_key}")


def test_the_public_key_is_an_uncompressed_p256_point(sender) -> None:
    point = b64url_decode(sender.public_key)
    assert len(point) == 65 and point[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve


def test_one_signature_per_audience_reused_until_an_hour_before_exp() -> None:
    now = [1_000_000.0]
    vapid = Vapid(ec.generate_private_key(ec.SECP256R1()), "mailto:ops@chat.example.org", clock=lambda: now[0])

    first = vapid.authorization("https://fcm.googleapis.com")
    assert vapid.authorization("https://fcm.googleapis.com") == first
    other = vapid.authorization("https://updates.push.services.mozilla.com")
    assert other != first
    claims, _ = verify_vapid(other, "https://updates.push.services.mozilla.com", now[0])
    assert claims["aud"] == "https://updates.push.services.mozilla.com"

    now[0] += 11 * 3600 - 1  # still more than an hour left
    assert vapid.authorization("https://fcm.googleapis.com") == first
    now[0] += 2  # within the last hour: signed anew, valid for the next 12 h
    renewed = vapid.authorization("https://fcm.googleapis.com")
    assert renewed != first
    claims, _ = verify_vapid(renewed, "https://fcm.googleapis.com", now[0])
    assert claims["exp"] == int(now[0]) + 12 * 3600


def test_the_audience_leaves_the_default_port_out(sender) -> None:
    from urllib.parse import urlsplit

    from chatapp.push.webpush import origin

    assert origin(urlsplit("https://fcm.googleapis.com/fcm/send/abc")) == "https://fcm.googleapis.com"
    assert origin(urlsplit("https://Push.Example.com:443/x")) == "https://push.example.com"
    assert origin(urlsplit("https://push.example.com:8443/x")) == "https://push.example.com:8443"
    assert origin(urlsplit("http://[2001:db8::1]:8080/x")) == "http://[2001:db8::1]:8080"


def test_a_key_is_generated_once_with_mode_0600_and_reused(make_sender, tmp_path) -> None:
    instance = tmp_path / "instance"
    first = make_sender(instance)
    key_file = instance / KEY_FILE

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    assert make_sender(instance).public_key == first.public_key
    assert key_file.read_bytes() == content
    assert [p.name for p in instance.iterdir()] == [KEY_FILE]  # no scratch file left


def test_workers_starting_together_end_with_one_key(tmp_path) -> None:
    """Four processes, imports done, released at once onto a fresh folder."""
    probe = (
        "import os, sys, time; from chatapp.push import PushSender\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
        "print(PushSender.from_config({}, sys.argv[1]).public_key)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    for round_ in range(3):
        instance, go = tmp_path / f"instance-{round_}", tmp_path / f"go-{round_}"
        workers = [
            subprocess.Popen([sys.executable, "-c", probe, str(instance), str(go)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]  # fmt: skip
        time.sleep(1.5)  # let every worker reach the wait
        go.touch()
        keys = {worker.communicate(timeout=60)[0].strip() for worker in workers}
        assert all(worker.returncode == 0 for worker in workers)
        assert len(keys) == 1 and len(next(iter(keys))) == 87
        assert [p.name for p in instance.iterdir()] == [KEY_FILE]


def test_the_worker_that_loses_the_race_reads_the_winners_key(tmp_path, monkeypatch) -> None:
    """Another worker links its key between our check and our link."""
    instance = tmp_path / "instance"
    winner = ec.generate_private_key(ec.SECP256R1())
    real_link = os.link

    def link_after_the_winner(source, target) -> None:
        Path(target).write_bytes(winner.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))  # fmt: skip
        real_link(source, target)  # FileExistsError, as for the real loser

    monkeypatch.setattr(os, "link", link_after_the_winner)
    key = installation_key(instance / KEY_FILE)

    assert _public(key) == _public(winner)
    assert [p.name for p in instance.iterdir()] == [KEY_FILE]


def _scalar(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


@pytest.mark.parametrize("form", ["raw", "pem", "pem-escaped", "sec1"])
def test_a_configured_key_is_used_and_nothing_is_written(make_sender, tmp_path, form) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()  # fmt: skip
    sec1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()  # fmt: skip
    configured = {"raw": _scalar(key), "pem": pkcs8, "pem-escaped": pkcs8.replace("\n", "\\n"), "sec1": sec1}[form]
    instance = tmp_path / "configured"

    sender = make_sender(instance, VAPID_PRIVATE_KEY=configured)

    assert sender.public_key == _public(key)
    assert not (instance / KEY_FILE).exists()


@pytest.mark.parametrize(
    "configured",
    [
        "not a key",
        b64url(b"\x01" * 31),
        b64url(b"\x00" * 32),  # zero is no private key
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ],
)
def test_an_unusable_configured_key_stops_the_start_naming_the_variable(make_sender, configured) -> None:
    with pytest.raises(ConfigError, match="CHAT_VAPID_PRIVATE_KEY"):
        make_sender(VAPID_PRIVATE_KEY=configured)


def test_a_key_on_another_curve_is_refused(make_sender) -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="P-256"):
        make_sender(VAPID_PRIVATE_KEY=pem.decode())


def test_a_damaged_key_file_is_never_replaced_silently(make_sender, tmp_path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / KEY_FILE).write_text("garbage")
    with pytest.raises(ConfigError, match="restore it from a backup"):
        make_sender(instance)
    assert (instance / KEY_FILE).read_text() == "garbage"


@pytest.mark.parametrize("subject", ["admin@example.org", "http://chat.example.org", "mailto:"])
def test_the_subject_must_be_a_mailto_or_https_contact(make_sender, subject) -> None:
    with pytest.raises(ConfigError, match="CHAT_VAPID_SUBJECT"):
        make_sender(VAPID_SUBJECT=subject)


def test_a_placeholder_subject_is_accepted_with_a_warning(make_sender, caplog) -> None:
    make_sender(VAPID_SUBJECT="mailto:admin@localhost")
    assert "Apple" in caplog.text
