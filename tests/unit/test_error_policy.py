"""One error policy: user errors are one line and exit 2, anything else is a bug with its
traceback and exit 1; failed lookups say whether the thing is missing or the server is
unreachable; library messages name parameters, the command line adds its flags."""

from __future__ import annotations

import logging

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST, UNAUTHENTICATED

from gensemble.commands._flags import flag_names
from gensemble.core import cli
from gensemble.core.errors import DataError, NotFoundError, ServerUnreachable, UserError
from gensemble.core.server_errors import Failure, classify, lookup_failure
from tests.conftest import assert_user_error, run_cli


def _main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    return stop.value.code


def test_an_internal_error_is_a_bug_with_its_traceback(monkeypatch, capsys) -> None:  # noqa: ANN001
    def broken() -> None:
        raise RuntimeError("injected internal error")

    monkeypatch.setattr("gensemble.commands.plugins_cmd.get_registry", broken)
    assert _main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "injected internal error" in err
    assert "internal error in gensemble" in err and "report it" in err


def test_a_value_error_is_no_longer_a_user_error(monkeypatch, capsys) -> None:  # noqa: ANN001
    def broken() -> None:
        raise ValueError("a bug that used to exit 2")

    monkeypatch.setattr("gensemble.commands.plugins_cmd.get_registry", broken)
    assert _main(["plugins"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_user_error_is_one_line_and_exit_2() -> None:
    assert_user_error(run_cli("events", "show", "nope"), "unknown event 'nope'")


def test_the_command_adds_its_flag_to_a_library_error() -> None:
    with pytest.raises(DataError, match=r"^--obs: x.csv: file not found$"):  # noqa: SIM117
        with flag_names(obs="--obs"):
            raise DataError("x.csv: file not found", "obs")
    with pytest.raises(UserError, match=r"^plain$"), flag_names(obs="--obs"):
        raise UserError("plain")


def test_library_messages_name_no_flags() -> None:
    """A Python caller sees the library's own words; the flags are the CLI's."""
    from gensemble.inference.generate import write_from_latents

    with pytest.raises(UserError) as err:
        write_from_latents(None, "z.npy", "out.nc", "q", "random")  # type: ignore[arg-type]
    assert "--" not in str(err.value) and err.value.option == "space"


def test_failed_lookups_say_what_failed() -> None:
    missing = MlflowException("Run with id=x not found", error_code=RESOURCE_DOES_NOT_EXIST)
    down = MlflowException(
        "API request to http://h:5000/api failed with exception HTTPConnectionPool: "
        "Max retries exceeded",
        error_code=INTERNAL_ERROR,
    )
    denied = MlflowException("token expired", error_code=UNAUTHENTICATED)
    assert classify(missing) is Failure.NOT_FOUND
    assert classify(down) is Failure.UNREACHABLE
    assert classify(ConnectionRefusedError()) is Failure.UNREACHABLE
    assert classify(denied) is Failure.REFUSED
    assert isinstance(lookup_failure(missing, "run 'x'", "u"), NotFoundError)
    reach = lookup_failure(down, "run 'x'", "http://h:5000")
    assert isinstance(reach, ServerUnreachable) and "cannot reach" in str(reach)
    assert "refused the credentials" in str(lookup_failure(denied, "run 'x'", "u"))
    with pytest.raises(TypeError):  # not an MLflow failure: a bug, raised as it is
        lookup_failure(TypeError("ours"), "run 'x'", "u")


def test_an_unreachable_server_is_said_as_such(tmp_path) -> None:  # noqa: ANN001
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    proc = run_cli("lineage", "0123abcd", "--uri", "http://127.0.0.1:9", env=env)
    assert_user_error(proc, "cannot reach")
    assert "not found" not in proc.stderr


def test_verbose_and_quiet_set_the_log_level() -> None:
    for flag, level in (("--verbose", logging.DEBUG), ("--quiet", logging.ERROR)):
        with pytest.raises(SystemExit):
            cli.main([flag, "plugins", "--help"])
        assert logging.getLogger("gensemble").level == level
    cli.console_log.setup(0)
    assert logging.getLogger("gensemble").level == logging.INFO
