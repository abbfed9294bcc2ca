"""Reports: the quarterly report to the federal operator and the status dashboard.

Each report is built in two steps: a pure data object read from the database in a few
aggregate queries (`quarterly.build`, `dashboard.build`), then writers that turn it into
a file (XLSX, CSV, HTML), always through `output.atomic_output`.
"""
