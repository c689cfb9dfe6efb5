# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The package's error: IbvExtError, and the library's per-thread reason (``last_error``)."""

import errno as _errno
import os

from . import _capi, _pyverbs


# ============================================================================ errors
class IbvExtError(*_pyverbs.ERROR_BASES):
    """A libibverbs-ext (or libibverbs) call failed.

    ``errno``: the errno value, also as ``error_code`` (pyverbs' name); ``reason``: the
    library's one-line reason (``ibv_ext_last_error()``, or strerror where the library gave
    none); ``func``: the C function. ``strerror`` is the reason too, so ``OSError`` handlers
    print it. An ``OSError``, and where pyverbs is installed a
    ``pyverbs.pyverbs_error.PyverbsRDMAError`` as well: ``except PyverbsRDMAError as ex:
    ex.error_code == errno.EOPNOTSUPP`` works as for pyverbs' own calls.
    """

    def __init__(self, err, reason=None, func=None):
        reason = reason or os.strerror(err)
        OSError.__init__(self, err, reason)
        self.reason = reason
        self.func = func

    @property
    def error_code(self):
        """The errno value (pyverbs' PyverbsRDMAError.error_code)."""
        return self.errno

    @property
    def errno_name(self):
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self):
        head = f"{self.func}: " if self.func else ""
        return f"{head}{self.reason} [{self.errno_name}: {os.strerror(self.errno)}]"

    def __reduce__(self):
        return (type(self), (self.errno, self.reason, self.func))


def last_error():
    """The library's reason for the last failure in this thread (``ibv_ext_last_error()``)."""
    return _capi.last_error()


def _fail(err, func):
    """An IbvExtError for a failed call, with the reason the library recorded (same thread)."""
    return IbvExtError(err, _capi.last_error(), func)


def _check(ret, func):
    if ret:
        raise _fail(ret, func)
