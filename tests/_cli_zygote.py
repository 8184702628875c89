"""Fork server for the test suite's command-line calls.

Every ``run_cli`` used to start ``python -m gensemble`` afresh and spend seconds importing
torch, mlflow and xarray before doing milliseconds of work.  This process imports them
once, then forks one child per command: the child is still its own process - its own exit
code, stdout and stderr written to files, its own working directory and environment,
nothing shared back - exactly what the tests check, without the imports.  A PYTHONPATH in
the request (a partner's package installed to a folder) goes first on the child's path,
as a fresh interpreter would put it, and the plugin registry is discovered again.

Protocol (one JSON object per line): request ``{"args", "cwd", "env", "out", "err"}`` on
stdin; reply ``{"pid"}`` at once, then ``{"code"}`` when the child has ended.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _child(req: dict) -> None:
    code = 1
    try:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        extra = [p for p in req["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        if extra:  # what a fresh interpreter would put first on its path
            sys.path[0:0] = [p for p in extra if p not in sys.path]
            import importlib

            import gensemble.core.registry as registry

            importlib.invalidate_caches()
            registry._registry = None  # entry points found again, the new path included
        for fd, path in ((1, req["out"]), (2, req["err"])):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(handle, fd)
            os.close(handle)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the child's whole life
        sys.argv = ["gensemble", *req["args"]]
        from gensemble.core.cli import main

        try:
            main(list(req["args"]))
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:  # noqa: BLE001 - what python -m would print
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import mlflow  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import xarray  # noqa: F401
    import zarr  # noqa: F401

    import gensemble.core.cli  # noqa: F401

    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
