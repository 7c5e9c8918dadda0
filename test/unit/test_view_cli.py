"""`saycan view` and `saycan demo --view` refuse bad set-ups in one line, before starting anything:
a port in use, rerun-sdk missing."""
from __future__ import annotations

import socket
import sys

import pytest

from saycan_ros import cli
from saycan_ros.viz.rerun_view import INSTALL_HINT, viewer_url


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("argv", [["view", "--port", "{port}"], ["view", "--grpc-port", "{port}"],
                                  ["demo", "--view", "--view-port", "{port}"]])
def test_a_port_in_use_is_one_line(argv, taken_port, capsys):
    pytest.importorskip("rerun")
    code = cli.main([a.format(port=taken_port) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"port {taken_port} is not free" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv", [["view"], ["demo", "--view"]])
def test_without_rerun_it_says_how_to_install_it(argv, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rerun", None)  # import rerun -> ImportError
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == f"saycan {argv[0]}: error: {INSTALL_HINT}"


def test_bad_port_argument_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["view", "--port", "70000"])
    assert exit_.value.code == 2 and "outside 1..65535" in capsys.readouterr().err


def test_viewer_url_tells_the_page_where_its_data_is():
    assert viewer_url(9090, 9876) == "http://localhost:9090/?url=rerun%2Bhttp%3A%2F%2Flocalhost%3A9876%2Fproxy&hide_welcome_screen"
