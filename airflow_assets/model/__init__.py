"""The Assets vocabulary as plain data: attribute kinds, normalised content, display forms, configuration.

No I/O here: nothing of pymongo, requests or Airflow, and no ``airflow_assets`` module besides ``model``,
``ids``, ``exceptions`` and ``messages``. Backup, backfill, restore and the tools share these definitions.
"""
