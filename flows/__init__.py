"""Prefect flows: thin orchestration over the plain functions of the other packages."""
