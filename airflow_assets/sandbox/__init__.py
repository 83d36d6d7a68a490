"""A local stand-in for a Jira Cloud site with Assets: ``run_sandbox()`` in tests, ``airflow-assets sandbox serve``.

It shares no code with the client it stands in for (``airflow_assets.api``): a test double that shared code with
the thing under test could not catch its mistakes.
"""
