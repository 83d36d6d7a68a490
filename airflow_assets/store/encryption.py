"""Client-side encryption at rest: the keyring, keyed content ids and sealed values (AES-256-GCM).

Off unless a keyring is attached to the backup database (:func:`use_keyring`; the Airflow side reads it from
the ``jira_assets_encryption_key`` connection, see ``airflow_assets.hooks.encryption_key``). With one:

- a version's content is sealed (AES-GCM, a random 96-bit nonce, the version's identity as associated data:
  a ciphertext moved to another document fails its tag) and its id is a keyed HMAC-SHA256 of the same
  envelope a plain store hashes, prefixed with the key id (``<key id>:<hex>``), so equal content still
  dedups and a short value cannot be guessed from its id by hashing a dictionary;
- manifest fields that quote names or values (schema name, steps, warnings, fidelity, damage) and
  reconstruction notes are sealed value by value, bound to their document and field.

Each secret yields two subkeys by HKDF-SHA256 (one for HMACs, one for AES), so neither use weakens the
other. The key id is a short HMAC of the secret (it names the key, and says nothing of it). Rotation: the
current key seals every new write; previous keys only open what they sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.binary import Binary
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo.database import Database

from airflow_assets.exceptions import JiraAssetsError
from airflow_assets.store.hashing import canonical_json
from airflow_assets.store.layout import COUNTERS

# The BSON binary subtype of a sealed value (128-255 are user-defined): readers recognise it anywhere.
SEALED_SUBTYPE = 0x80
NONCE_BYTES = 12
KEY_ID_CHARS = 12
# The shortest secret accepted: below this a key is guessable.
MIN_SECRET_CHARS = 16
_SALT = b"airflow-assets encryption at rest v1"
# Where a database's keyring is kept: on its client, per database name (a Database object is rebuilt
# by every ``client[name]``; the client is the one object every store class reaches).
_ATTRIBUTE = "_airflow_assets_keyrings"


class EncryptionKeyError(JiraAssetsError, LookupError):
    """A sealed document needs a key that is not configured (or the configuration is unusable).

    :param key_id: the id of the key the document was sealed with.
    """

    def __init__(self, message: str, *, key_id: str = "") -> None:
        super().__init__(message)
        self.key_id = key_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_key_error, (str(self), self.key_id))


def _rebuild_key_error(message: str, key_id: str) -> EncryptionKeyError:
    return EncryptionKeyError(message, key_id=key_id)


class SealedValueError(JiraAssetsError, ValueError):
    """A sealed value failed authentication (its ciphertext, nonce or place was altered)."""


def key_id_of(secret: bytes) -> str:
    """Return the public name of a secret (a short HMAC of it)."""
    return hmac.new(secret, b"airflow-assets encryption key id", hashlib.sha256).hexdigest()[:KEY_ID_CHARS]


def _subkey(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose).derive(secret)


@dataclass(frozen=True)
class StoreKey:
    """One encryption secret's subkeys and public id."""

    key_id: str
    mac_key: bytes = field(repr=False)
    aes: AESGCM = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> StoreKey:
        """Derive the HMAC and AES subkeys of ``secret``."""
        if len(secret) < MIN_SECRET_CHARS:
            raise EncryptionKeyError(
                f"an encryption key must be at least {MIN_SECRET_CHARS} characters (e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return cls(
            key_id=key_id_of(secret),
            mac_key=_subkey(secret, b"hmac content ids"),
            aes=AESGCM(_subkey(secret, b"aes-256-gcm content")),
        )

    def mac(self, message: bytes) -> str:
        """Return the hex HMAC-SHA256 of ``message`` under this key."""
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """The current key (seals every new write) and the previous ones (open what they sealed)."""

    current: StoreKey
    previous: tuple[StoreKey, ...] = ()

    @classmethod
    def from_secrets(cls, current: bytes, previous: Iterable[bytes] = ()) -> Keyring:
        """Build a keyring from the current secret and the previous ones (any order)."""
        now = StoreKey.from_secret(current)
        older = tuple(key for key in (StoreKey.from_secret(s) for s in previous) if key.key_id != now.key_id)
        return cls(now, older)

    @property
    def key_ids(self) -> list[str]:
        """Return the ids of every key held, the current one first."""
        return [self.current.key_id, *(key.key_id for key in self.previous)]

    def key(self, key_id: str, *, what: str) -> StoreKey:
        """Return the key ``key_id``.

        :param what: the document that needs it (named in the error).
        :raises EncryptionKeyError: no such key is configured.
        """
        for key in (self.current, *self.previous):
            if key.key_id == key_id:
                return key
        raise missing_key(key_id, what, self)

    def has(self, key_id: str) -> bool:
        """Return whether the keyring holds ``key_id``."""
        return key_id in self.key_ids


def missing_key(key_id: str, what: str, keyring: Keyring | None) -> EncryptionKeyError:
    """Return the error of a document sealed with a key this process does not have."""
    have = f"keys {', '.join(keyring.key_ids)}" if keyring else "no encryption key"
    return EncryptionKeyError(
        f"{what} is encrypted with key {key_id}, and this process has {have}: add that key to the "
        "jira_assets_encryption_key connection (its password, or a `previous_keys` entry of its extra)",
        key_id=key_id,
    )


# -- the keyring of a database ------------------------------------------------------------------------


def use_keyring(db: Database, keyring: Keyring | None) -> None:
    """Attach ``keyring`` to the backup database ``db`` (None: no encryption) for every store class."""
    keyrings = vars(db.client).setdefault(_ATTRIBUTE, {})
    if keyring is None:
        keyrings.pop(db.name, None)
    else:
        keyrings[db.name] = keyring


def keyring_of(db: Database) -> Keyring | None:
    """Return the keyring attached to ``db``, or None when the store is not encrypted."""
    keyrings: dict[str, Keyring] = vars(db.client).get(_ATTRIBUTE, {})
    return keyrings.get(db.name)


# The document of ``counters`` that says the store is encrypted, and with which keys it was written.
MARKER_ID = "encryption"


def check_write_mode(db: Database, keyring: Keyring | None) -> None:
    """Record that an encrypted writer writes; refuse a writer without a key once the store is encrypted.

    So a worker whose key connection is missing (a misconfigured worker, a secrets backend that did not
    answer) never writes names and values in the clear into an encrypted store. To turn encryption off on
    purpose, delete this document (``counters``, ``_id`` ``encryption``) along with the connection.

    :raises EncryptionKeyError: the store is encrypted and ``keyring`` is None.
    """
    markers = db[COUNTERS]
    if keyring is not None:
        markers.update_one(
            {"_id": MARKER_ID}, {"$addToSet": {"key_ids": keyring.current.key_id}}, upsert=True
        )
        return
    marker = markers.find_one({"_id": MARKER_ID})
    if marker is not None:
        known = ", ".join(str(key) for key in marker.get("key_ids") or [])
        raise EncryptionKeyError(
            f"the backup store {db.name} is encrypted (keys {known}) and this process has no encryption key: "
            "nothing is written in the clear; define the jira_assets_encryption_key connection for every "
            "worker (to turn encryption off on purpose, delete the document `encryption` of `counters`)",
            key_id=known,
        )


# -- content ids ------------------------------------------------------------------------------------


def split_content_id(content_id: str) -> tuple[str | None, str]:
    """Return (key id, digest) of a content id; the key id is None for a plain SHA-256 id."""
    key_id, sep, digest = content_id.partition(":")
    return (key_id, digest) if sep else (None, content_id)


def envelope_bytes(*, kind: str, workspace_id: str, schema_id: str, item_id: str, data: Any) -> bytes:
    """Return the canonical bytes a content id is computed over (plain or keyed)."""
    envelope = {"kind": kind, "ws": workspace_id, "schema": schema_id, "item": item_id, "data": data}
    return canonical_json(envelope).encode("utf-8")


def keyed_content_id(key: StoreKey, envelope: bytes) -> str:
    """Return the keyed content id of an envelope: ``<key id>:<HMAC-SHA256 hex>``."""
    return f"{key.key_id}:{key.mac(envelope)}"


# -- sealed values ----------------------------------------------------------------------------------


def seal(key: StoreKey, value: Any, *, place: str) -> Binary:
    """Return ``value`` (any BSON value) encrypted, bound to ``place`` (its document and field).

    Layout: key id (ASCII), nonce, ciphertext with its 16-byte GCM tag.
    """
    plaintext = bson.encode({"v": value})
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aes.encrypt(nonce, plaintext, place.encode("utf-8"))
    return Binary(key.key_id.encode("ascii") + nonce + sealed, SEALED_SUBTYPE)


def sealed_key_id(value: Binary) -> str:
    """Return the id of the key a sealed value was sealed with."""
    return bytes(value[:KEY_ID_CHARS]).decode("ascii", errors="replace")


def is_sealed(value: Any) -> bool:
    """Return whether ``value`` is a sealed value."""
    return isinstance(value, Binary) and value.subtype == SEALED_SUBTYPE


def unseal(keyring: Keyring | None, value: Binary, *, place: str, what: str) -> Any:
    """Return the value sealed in ``value`` at ``place``.

    :param what: the document, named in errors.
    :raises EncryptionKeyError: its key is not in the keyring.
    :raises SealedValueError: authentication failed (altered, or moved from another place).
    """
    key_id = sealed_key_id(value)
    if keyring is None:
        raise missing_key(key_id, what, None)
    key = keyring.key(key_id, what=what)
    raw = bytes(value)
    nonce, sealed = raw[KEY_ID_CHARS : KEY_ID_CHARS + NONCE_BYTES], raw[KEY_ID_CHARS + NONCE_BYTES :]
    try:
        plaintext = key.aes.decrypt(nonce, sealed, place.encode("utf-8"))
    except InvalidTag:
        raise SealedValueError(
            f"{what}: the encrypted value fails authentication (AES-GCM tag): it was altered or moved "
            "from another document"
        ) from None
    return bson.decode(plaintext)["v"]


def seal_fields(
    keyring: Keyring | None, values: Mapping[str, Any], *, collection: str, doc_id: str, names: Iterable[str]
) -> dict[str, Any]:
    """Return ``values`` (a document or a ``$set``) with the fields under ``names`` sealed.

    Without a keyring ``values`` comes back as it is.
    """
    if keyring is None:
        return dict(values)
    wanted = set(names)
    return {
        name: seal(keyring.current, value, place=f"{collection}|{doc_id}|{name}")
        if name.partition(".")[0] in wanted and value is not None
        else value
        for name, value in values.items()
    }


def unseal_fields(keyring: Keyring | None, document: Mapping[str, Any], *, collection: str) -> dict[str, Any]:
    """Return ``document`` with every sealed value (at any depth of sub-documents) opened."""
    doc_id = str(document.get("_id"))
    what = f"{collection} document {doc_id}"

    def walk(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        opened: dict[str, Any] = {}
        for name, value in values.items():
            path = f"{prefix}{name}"
            if is_sealed(value):
                opened[name] = unseal(keyring, value, place=f"{collection}|{doc_id}|{path}", what=what)
            elif isinstance(value, Mapping):
                opened[name] = walk(value, f"{path}.")
            else:
                opened[name] = value
        return opened

    return walk(document, "")
