"""Shared by every test folder: pytest puts this folder on sys.path, so `tests/pathload.py`
is importable from tests/unit and tests/e2e alike."""
