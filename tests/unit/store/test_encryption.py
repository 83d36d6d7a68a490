"""The keyring, keyed content ids and sealed values of encryption at rest (no server needed)."""

from __future__ import annotations

import hashlib
import json

import pymongo
import pytest
from bson.binary import Binary

from airflow_assets.hooks.encryption_key import encryption_keyring
from airflow_assets.store.encryption import (
    EncryptionKeyError,
    Keyring,
    SealedValueError,
    envelope_bytes,
    keyed_content_id,
    keyring_of,
    seal,
    seal_fields,
    unseal,
    unseal_fields,
    use_keyring,
)
from airflow_assets.store.hashing import content_hash

SECRET_1 = b"0123456789abcdef-one"
SECRET_2 = b"fedcba9876543210-two"
SHORT_VALUE = {"label": "Oslo"}


def _envelope(data: dict[str, str]) -> bytes:
    return envelope_bytes(kind="object", workspace_id="ws", schema_id="1", item_id="7", data=data)


def test_a_keyed_content_id_cannot_be_found_by_hashing_a_dictionary() -> None:
    keyring = Keyring.from_secrets(SECRET_1)
    plain = content_hash(kind="object", workspace_id="ws", schema_id="1", item_id="7", data=SHORT_VALUE)
    keyed = keyed_content_id(keyring.current, _envelope(SHORT_VALUE))
    # The plain id is what anyone computes from a guess; the keyed one is not, yet equal content dedups.
    assert plain == hashlib.sha256(_envelope(SHORT_VALUE)).hexdigest()
    assert plain not in keyed and keyed.startswith(f"{keyring.current.key_id}:")
    assert keyed == keyed_content_id(keyring.current, _envelope(dict(SHORT_VALUE)))
    other = Keyring.from_secrets(SECRET_2).current
    assert keyed_content_id(other, _envelope(SHORT_VALUE)).split(":")[1] != keyed.split(":")[1]


def test_a_sealed_value_opens_only_at_its_place_with_its_key() -> None:
    keyring = Keyring.from_secrets(SECRET_1)
    sealed = seal(keyring.current, {"comment": "Printer on fire"}, place="versions|a")
    assert b"Printer" not in bytes(sealed)
    assert unseal(keyring, sealed, place="versions|a", what="x") == {"comment": "Printer on fire"}
    with pytest.raises(SealedValueError, match="AES-GCM tag"):
        unseal(keyring, sealed, place="versions|b", what="x")
    flipped = bytearray(sealed)
    flipped[-3] ^= 0x40
    with pytest.raises(SealedValueError, match="version v1: the encrypted value fails authentication"):
        unseal(keyring, Binary(bytes(flipped), sealed.subtype), place="versions|a", what="version v1")
    with pytest.raises(EncryptionKeyError, match=f"encrypted with key {keyring.current.key_id}") as raised:
        unseal(Keyring.from_secrets(SECRET_2), sealed, place="versions|a", what="x")
    assert raised.value.key_id == keyring.current.key_id
    with pytest.raises(EncryptionKeyError, match="this process has no encryption key"):
        unseal(None, sealed, place="versions|a", what="x")


def test_rotation_keeps_previous_keys_for_reading_only() -> None:
    old = Keyring.from_secrets(SECRET_1)
    rotated = Keyring.from_secrets(SECRET_2, [SECRET_1, SECRET_2])
    assert rotated.current.key_id != old.current.key_id
    assert rotated.key_ids == [rotated.current.key_id, old.current.key_id]
    sealed = seal(old.current, "Bergen", place="p")
    assert unseal(rotated, sealed, place="p", what="x") == "Bergen"


def test_fields_are_sealed_by_name_and_path_and_open_again() -> None:
    keyring = Keyring.from_secrets(SECRET_1)
    values = {"_id": "s1", "schema_name": "Locations", "seq": 3, "steps.export_config": {"types": 2}}
    sealed = seal_fields(keyring, values, collection="snapshots", doc_id="s1", names=("schema_name", "steps"))
    assert sealed["seq"] == 3 and isinstance(sealed["schema_name"], Binary)
    stored = {"_id": "s1", "schema_name": sealed["schema_name"], "seq": 3,
              "steps": {"export_config": sealed["steps.export_config"]}}  # fmt: skip
    opened = unseal_fields(keyring, stored, collection="snapshots")
    assert opened == {
        "_id": "s1",
        "schema_name": "Locations",
        "seq": 3,
        "steps": {"export_config": {"types": 2}},
    }
    # A sealed field copied onto another manifest does not open there.
    with pytest.raises(SealedValueError):
        unseal_fields(keyring, {**stored, "_id": "s2"}, collection="snapshots")
    assert seal_fields(None, values, collection="snapshots", doc_id="s1", names=("schema_name",)) == values


def test_short_keys_are_refused_without_quoting_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EncryptionKeyError, match="at least 16 characters"):
        Keyring.from_secrets(b"short")
    monkeypatch.setenv(
        "AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY",
        json.dumps({"conn_type": "generic", "password": "tiny-secret"}),
    )
    with pytest.raises(EncryptionKeyError, match="at least 16") as raised:
        encryption_keyring()
    assert "tiny-secret" not in str(raised.value)
    bad = {
        "conn_type": "generic",
        "password": SECRET_1.decode(),
        "extra": {"previous_keys": "old-key-quoted-here"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY", json.dumps(bad))
    with pytest.raises(EncryptionKeyError, match="previous_keys") as raised:
        encryption_keyring()
    assert "old-key-quoted-here" not in str(raised.value)


def test_the_connection_gives_the_keyring_and_none_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY", raising=False)
    assert encryption_keyring() is None
    connection = {"conn_type": "generic", "password": SECRET_2.decode(),
                  "extra": {"previous_keys": [SECRET_1.decode()]}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ASSETS_ENCRYPTION_KEY", json.dumps(connection))
    keyring = encryption_keyring()
    assert keyring is not None and keyring.key_ids == Keyring.from_secrets(SECRET_2, [SECRET_1]).key_ids


def test_a_keyring_belongs_to_one_database_of_a_client() -> None:
    client: pymongo.MongoClient = pymongo.MongoClient("mongodb://127.0.0.1:1", connect=False)
    keyring = Keyring.from_secrets(SECRET_1)
    use_keyring(client["a"], keyring)
    assert keyring_of(client["a"]) is keyring and keyring_of(client["b"]) is None
    use_keyring(client["a"], None)
    assert keyring_of(client["a"]) is None
