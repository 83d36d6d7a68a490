"""Match the users and groups a snapshot names with those of the target site.

Account ids are global across Atlassian Cloud sites, so they come first; then the email address (when the
user lets it be seen), and the display name only when exactly one target user has it. Groups are matched
by name. What matches nothing is reported and left empty: one unknown user never fails a restore.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UserMatch:
    """How a user of the snapshot was found on the target (``account_id`` None: not found)."""

    account_id: str | None
    how: str


@dataclass
class Directory:
    """The users and groups of the target site."""

    account_ids: set[str] = field(default_factory=set)
    by_email: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str | None] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, users: Iterable[Mapping[str, Any]], groups: Iterable[str]) -> Directory:
        """Build from Jira's user records (``accountId``, ``emailAddress``, ``displayName``) and "
        "group names."""
        directory = cls(groups=set(groups))
        names: Counter[str] = Counter()
        named: dict[str, str] = {}
        for user in users:
            account_id = user.get("accountId")
            if not isinstance(account_id, str) or not account_id:
                continue
            directory.account_ids.add(account_id)
            email = user.get("emailAddress")
            if isinstance(email, str) and email:
                directory.by_email[email.lower()] = account_id
            name = user.get("displayName")
            if isinstance(name, str) and name:
                names[name.lower()] += 1
                named[name.lower()] = account_id
        directory.by_name = {name: named[name] if count == 1 else None for name, count in names.items()}
        return directory

    def user(self, person: Mapping[str, Any] | None) -> UserMatch:
        """Find a user of the snapshot (``{accountId, displayName, emailAddress}``) on the target."""
        if not person:
            return UserMatch(None, "no user")
        account_id = person.get("accountId")
        if account_id in self.account_ids:
            return UserMatch(str(account_id), "account id")
        email = person.get("emailAddress")
        if isinstance(email, str) and email.lower() in self.by_email:
            return UserMatch(self.by_email[email.lower()], "email")
        name = person.get("displayName")
        if isinstance(name, str) and name.lower() in self.by_name:
            match = self.by_name[name.lower()]
            if match is None:
                return UserMatch(None, f"display name {name!r} is not unique on the target")
            return UserMatch(match, "display name")
        return UserMatch(None, "not on the target")

    def group(self, name: str | None) -> str | None:
        """Return the target group of that name, or None."""
        return name if name in self.groups else None


def describe_person(person: Mapping[str, Any] | None) -> str:
    """Return a person of the snapshot as a message names them."""
    if not person:
        return "an unknown user"
    name = person.get("displayName") or "?"
    return f"{name} ({person.get('accountId') or person.get('emailAddress') or 'no account id'})"
