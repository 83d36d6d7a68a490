"""Users are matched by account id, then email, then a unique display name; groups by name."""

from __future__ import annotations

from airflow_assets.restore.directory import Directory

USERS = [
    {"accountId": "5b10aaa", "displayName": "Ada Lovelace", "emailAddress": "ada@example.com"},
    {"accountId": "5b10bbb", "displayName": "Alan Turing"},
    {"accountId": "5b10ccc", "displayName": "Alan Turing"},
    {"accountId": "5b10ddd", "displayName": "Grace Hopper", "emailAddress": "grace@example.com"},
]


def test_users_are_matched_by_account_id_then_email_then_a_unique_name() -> None:
    directory = Directory.of(USERS, ["jira-admins"])

    assert directory.user({"accountId": "5b10aaa"}).account_id == "5b10aaa"
    by_email = directory.user({"accountId": "gone", "emailAddress": "GRACE@example.com"})
    assert (by_email.account_id, by_email.how) == ("5b10ddd", "email")
    by_name = directory.user({"accountId": "gone", "displayName": "Ada Lovelace"})
    assert (by_name.account_id, by_name.how) == ("5b10aaa", "display name")


def test_an_ambiguous_name_or_an_unknown_user_matches_nobody() -> None:
    directory = Directory.of(USERS, [])

    assert directory.user({"accountId": "gone", "displayName": "Alan Turing"}).account_id is None
    assert "not unique" in directory.user({"accountId": "gone", "displayName": "Alan Turing"}).how
    assert directory.user({"accountId": "gone", "displayName": "Nobody"}).account_id is None


def test_groups_are_matched_by_name() -> None:
    directory = Directory.of([], ["jira-admins"])

    assert directory.group("jira-admins") == "jira-admins"
    assert directory.group("hr") is None
