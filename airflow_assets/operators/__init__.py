"""Airflow operators: thin layers over the plain-Python backup and restore steps."""
