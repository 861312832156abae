import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curation.settings")
application = get_wsgi_application()

# Project code and settings are imported once the application (and so Django) is set up.
from django.conf import settings  # noqa: E402

from curation.services.reviews.edits import warm_up  # noqa: E402


def _warm_up() -> None:
    # Off the request path: the first edit would otherwise load spaCy/Presidio itself.
    if not settings.CURATOR_WARM_UP:
        return
    threading.Thread(target=warm_up, name="curator-warm-up", daemon=True).start()


_warm_up()
