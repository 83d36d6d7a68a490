"""The backup configuration: which object schemas of which sites to back up, when, how long to keep them,
and where alerts go (the YAML file, validated into typed settings; no Airflow import).

By concern: ``loading`` (file, YAML, :func:`~airflow_assets.config.loading.load_config`), ``parts``
(validated part by part), ``problems`` (the messages users read), ``backup_config`` (the whole model),
``sites``, ``storage`` (``mongo`` and ``retention``), ``alerts``, ``fields`` (single values), ``clashes``
(rules across entries), ``field_paths``.
"""
