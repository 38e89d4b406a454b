"""One module per area of ``/api/v1``, each exposing ``router`` (``api.app.ROUTERS``)."""
