"""The "Jira Assets" page of the Airflow UI: an Airflow plugin serving server-rendered views of the store.

``queries`` reads the store into typed view data (plain Python over ``store`` and ``tools``), ``charts`` draws
them as inline SVG, ``app`` is the thin FastAPI layer (auth through Airflow's auth manager, Jinja2
templates) and ``plugin`` registers it with Airflow. See docs/ui.md.
"""
