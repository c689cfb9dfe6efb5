# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""_Resource: the base of the objects that own something (close once, context manager,
ResourceWarning and close when collected open)."""

import warnings


# ============================================================================ resources
class _Resource:
    """close() once, context manager, ResourceWarning + close when collected open."""

    _closed = True
    _what = "resource"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def closed(self):
        return self._closed

    def _require_open(self):
        if self._closed:
            raise ValueError(f"{self._what} is closed")

    def __del__(self):
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            try:
                self.close()
            except Exception:  # noqa: BLE001 - nothing to report to in a finalizer
                pass
