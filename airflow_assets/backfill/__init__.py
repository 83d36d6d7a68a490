"""Backfill: snapshots of past moments, rewound from a later real snapshot by object history."""
