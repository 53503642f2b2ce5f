"""Run a Blender script inside Blender-as-a-Python-module (`bpy` from PyPI) the way `blender -b --python` would:

    VENV/bin/python run_module.py SCRIPT [ARGS...]      # the script sees sys.argv = ["blender", "--", ARGS...]

Exit status 1 when the script raises (like --python-exit-code 1). It ends with os._exit once the script's output
is written: the bpy 4.2 module segfaults at exit while a bpy.app.timers callback or a Python UI class (a panel) is
registered — static destructors free them after Python is finalized (4.5 and 5.0 exit cleanly).
DCCBRIDGE_RUN_MODULE_EXIT=normal exits the ordinary way instead (the tests check that 4.5 and 5.0 do).
"""

import os
import runpy
import sys
import traceback


def main() -> int:
    script, args = sys.argv[1], sys.argv[2:]
    sys.argv = ["blender", "--", *args]
    import bpy  # noqa: F401  (loads Blender: factory settings, the user folders from BLENDER_USER_* variables)

    try:
        runpy.run_path(script, run_name="__main__")
        return 0
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    code = main()
    if os.environ.get("DCCBRIDGE_RUN_MODULE_EXIT") == "normal":     # the add-on's own exit path, checked by a test
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
