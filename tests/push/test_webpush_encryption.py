"""RFC 8291 message encryption: the published vector, and every push decrypted by
the local push service with the subscription's own keys, as a browser would."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.push import PushTarget
from chatapp.push.jose import b64url, b64url_decode
from chatapp.push.webpush import encrypt
from tests.support.push_service import decrypt_aes128gcm

from .conftest import message_payload, webpush_target

# RFC 8291 Appendix A.
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
RFC_UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_"
    "yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


def _private(text: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"), ec.SECP256R1())


def test_the_rfc_8291_example_is_reproduced_byte_for_byte() -> None:
    body = encrypt(
        RFC_PLAINTEXT, b64url_decode(RFC_UA_PUBLIC), b64url_decode(RFC_AUTH),
        salt=b64url_decode(RFC_SALT), private_key=_private(RFC_AS_PRIVATE),
    )  # fmt: skip
    assert b64url(body) == RFC_BODY


def test_the_test_service_decrypts_the_rfc_example() -> None:
    """The double is checked against the RFC too, not only against our encryption."""
    plaintext, record_size = decrypt_aes128gcm(
        b64url_decode(RFC_BODY), _private(RFC_UA_PRIVATE), b64url_decode(RFC_AUTH)
    )
    assert (plaintext, record_size) == (RFC_PLAINTEXT, 4096)


def test_a_push_arrives_decrypted_with_its_headers(sender, push_service) -> None:
    subscription = push_service.new_subscription(server_key=sender.public_key)
    payload = message_payload(body="Café at 1? 🍕")

    outcome = sender.send(webpush_target(subscription), payload, topic="c42", urgency="high", ttl=3600)

    assert outcome.kind == "sent" and outcome.status == 201
    (push,) = push_service.received(subscription["endpoint"])
    assert push.payload_json == payload
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["content-type"] == "application/octet-stream"
    assert (push.headers["ttl"], push.headers["urgency"], push.headers["topic"]) == ("3600", "high", "c42")
    assert push.record_size == 4096
    assert push_service.errors == []


def test_every_message_has_its_own_salt_and_ephemeral_key(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    for _ in range(3):
        assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"

    bodies = [push.body for push in push_service.received()]
    salts = {body[:16] for body in bodies}
    sender_keys = {body[21:86] for body in bodies}
    assert len(salts) == 3 and len(sender_keys) == 3
    assert {push.payload_json["seq"] for push in push_service.received()} == {3}


def test_the_largest_payload_fits_one_record_and_a_larger_one_fails(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    overhead = len(b'{"body":""}')
    largest = {"body": "x" * (3993 - overhead)}

    assert sender.send(webpush_target(subscription), largest, topic="c1").kind == "sent"
    assert len(push_service.received()[0].body) == 4096

    too_large = sender.send(webpush_target(subscription), {"body": "x" * (3994 - overhead)}, topic="c1")
    assert too_large.kind == "failed" and "3993" in too_large.detail
    assert len(push_service.received()) == 1


def test_concurrent_sends_from_many_threads_all_decrypt(sender, push_service) -> None:
    subscriptions = [push_service.new_subscription() for _ in range(4)]
    outcomes: list[str] = []

    def send_some(index: int) -> None:
        for seq in range(5):
            target = webpush_target(subscriptions[index % 4])
            outcomes.append(sender.send(target, message_payload(seq=index * 100 + seq), topic=f"c{index}").kind)

    threads = [threading.Thread(target=send_some, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == ["sent"] * 40
    seqs = sorted(push.payload_json["seq"] for push in push_service.received())
    assert seqs == sorted(i * 100 + s for i in range(8) for s in range(5))
    assert push_service.errors == []


def test_a_malformed_subscription_fails_without_a_request(sender, push_service) -> None:
    good = push_service.new_subscription()
    endpoint, keys = good["endpoint"], good["keys"]
    cases = {
        "no keys": {"endpoint": endpoint, "p256dh": None, "auth": None},
        "not base64url": {"endpoint": endpoint, "p256dh": "%%%", "auth": keys["auth"]},
        "auth of 12 bytes": {"endpoint": endpoint, "p256dh": keys["p256dh"], "auth": b64url(b"x" * 12)},
        "not a curve point": {"endpoint": endpoint, "p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": keys["auth"]},
        "not a URL": {"endpoint": "push service", "p256dh": keys["p256dh"], "auth": keys["auth"]},
    }
    for case, fields in cases.items():
        outcome = sender.send(PushTarget("webpush", **fields), message_payload(), topic="c1")
        assert outcome.kind == "failed", case
    assert push_service.received() == [] and push_service.connections == 0
