"""Archive calls for images: an alert's clip and a camera's still."""

from __future__ import annotations


class MediaCalls:
    pass
