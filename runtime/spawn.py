"""Child processes of the ``spawn`` start method that do not re-run the caller's main script.

Spawn re-imports the caller's ``__main__`` in the child (as ``__mp_main__``). That script may
import Qt at the top (the app, a benchmark) or be pytest's entry point; the runtime's children
need none of it, since their targets live in importable modules. ``SpawnProcess`` hides the main
script while the child starts, so it needs no ``if __name__ == "__main__":`` guard either.
"""

from __future__ import annotations

import multiprocessing
import sys
import types

SPAWN = multiprocessing.get_context("spawn")
_PLAIN_MAIN = types.ModuleType("__main__")


class SpawnProcess(SPAWN.Process):
    @staticmethod
    def _Popen(process_obj):
        main_module = sys.modules["__main__"]
        sys.modules["__main__"] = _PLAIN_MAIN
        try:
            return SPAWN.Process._Popen(process_obj)
        finally:
            sys.modules["__main__"] = main_module
