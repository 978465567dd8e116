"""The control tower: the city's dashboard, served by the hub at ``/`` (delivery layer).

The page (``static/``) reads the hub's public APIs from the browser (NGSI-LD entities and
temporal, with the tenant's header), so it works on any tenant whose data uses Smart Data
Models types; the one thing it gets from the server side is a live feed of which entities
changed (``feed.py``, fed by the store's change stream). ``routes.py`` serves the page, its
files (``assets.py``: the package's own and Leaflet's, from the ``xstatic-leaflet`` package)
and the feed. It may import the API's helpers, services and store protocols; nothing imports
it but ``app.py``. docs/dashboard.md says what the screen does and why it is built so.
"""

from cityhub.dashboard.feed import ChangeFeed
from cityhub.dashboard.routes import Dashboard

__all__ = ["ChangeFeed", "Dashboard"]
