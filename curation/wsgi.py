import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curation.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    # Off the request path: the first edit would otherwise load spaCy/Presidio itself.
    from django.conf import settings

    if not settings.CURATOR_WARM_UP:
        return
    from curation.services.reviews import warm_up

    threading.Thread(target=warm_up, name="curator-warm-up", daemon=True).start()


_warm_up()
