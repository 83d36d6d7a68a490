"""Backup logic over the Assets client and the store: configuration, plans and steps (no Airflow import)."""
