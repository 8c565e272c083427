"""The probe uses the web tests' staff and resident fixtures against the root conftest's live_server."""
from tests.web.conftest import make_staff, persons  # noqa: F401 — fixtures, re-exported for this folder
