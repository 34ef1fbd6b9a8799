"""The ``glioma-rings`` command line, an application on top of the Dagster definitions."""
