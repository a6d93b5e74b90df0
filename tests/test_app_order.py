"""EditOrder: one user's edits run one at a time, each on the session the last one left; users do not wait on each
other; Gradio finds the request parameter (and a handler's own gr.SelectData) by annotation."""
import threading
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.utils import get_type_hints

import app


def push(started: threading.Event | None = None, go: threading.Event | None = None):
    """An edit that appends its name to the session's edits (a copy), optionally pausing inside until `go`."""
    def fn(name, session):
        if started is not None:
            started.set()
            assert go.wait(5)
        return f"image {name}", {**session, "edits": [*session["edits"], name]}
    return fn


def user(key):
    return SimpleNamespace(session_hash=key)


def run(fn, *args):
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn(*args)))
    thread.start()
    return thread, out


def test_a_users_second_edit_runs_on_the_first_ones_result():
    order, started, go = app.EditOrder(), threading.Event(), threading.Event()
    slow, fast = order.wrap(push(started, go)), order.wrap(push())
    sent = {"edits": []}                                 # both edits were sent from the same session
    first, a = run(slow, "region", sent, user("u1"))
    assert started.wait(5)
    second, b = run(fast, "undo", sent, user("u1"))
    second.join(0.2)
    assert second.is_alive()                             # waits for the first edit of this user
    go.set()
    first.join(5), second.join(5)
    assert a["value"][1]["edits"] == ["region"]
    assert b["value"][1]["edits"] == ["region", "undo"] and b["value"][1]["rev"] == 2
    # a later edit sent from the newest session runs on it as it is
    assert fast("reset", b["value"][1], user("u1"))[1]["edits"] == ["region", "undo", "reset"]


def test_users_do_not_wait_for_each_other_and_tests_without_a_browser_run_plainly():
    order, started, go = app.EditOrder(), threading.Event(), threading.Event()
    slow, fast = order.wrap(push(started, go)), order.wrap(push())
    first, _ = run(slow, "region", {"edits": []}, user("u1"))
    assert started.wait(5)
    assert fast("generate", {"edits": []}, user("u2"))[1]["edits"] == ["generate"]
    assert fast("plain", {"edits": ["x"]}, None) == ("image plain", {"edits": ["x", "plain"]})
    go.set()
    first.join(5)


def test_only_the_latest_users_are_remembered():
    order = app.EditOrder(capacity=2)
    fast = order.wrap(push())
    for key in ("u1", "u2", "u3"):
        fast("generate", {"edits": []}, user(key))
    assert list(order._users) == ["u2", "u3"]


def test_gradio_finds_the_request_and_the_handlers_own_event_data():
    def pick(evt, psi, session):
        return psi, session
    pick.__annotations__["evt"] = gr.SelectData
    wrapped = app.EditOrder().wrap(pick)
    hints = get_type_hints(wrapped)
    assert hints["request"] is gr.Request and hints["evt"] is gr.SelectData
    assert "request" not in pick.__annotations__
    assert list(app.inspect.signature(wrapped).parameters) == ["evt", "psi", "session", "request"]


def test_a_handler_with_a_progress_default_keeps_it_and_one_without_a_session_is_refused():
    def long_edit(target, session, progress=gr.Progress()):
        return progress, {**session, "edits": [*session["edits"], target]}
    wrapped = app.EditOrder().wrap(long_edit)
    assert list(app.inspect.signature(wrapped).parameters) == ["target", "session", "progress", "request"]
    marker = object()
    assert wrapped("t", {"edits": []}, marker, user("u1")) == (marker, {"edits": ["t"], "rev": 1})
    with pytest.raises(TypeError, match="session"):
        app.EditOrder().wrap(lambda seed: seed)
