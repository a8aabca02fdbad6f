"""The web face of the hub: the dashboard's own read-only endpoints, the live event stream (SSE) and the
built single-page application (``web/`` sources, built into ``cityhub/web/static/``)."""
