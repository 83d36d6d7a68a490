"""A local stand-in for a Jira Cloud site with Assets.

In tests: ``airflow_assets.sandbox.launch.run_sandbox()``; from a shell: ``airflow-assets sandbox serve``.
It shares no code with the client it stands in for (``airflow_assets.api``): a test double that shared
code with the thing under test could not catch its mistakes.
"""
