"""engine/wire.py: every event and command round-trips; anything else a viewer sends is refused.

The examples are generated from each dataclass's own type hints, so an event or command that
joins the `Event` or `Command` union is covered here without editing this file, and one whose
fields cannot travel fails here first.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np
import pytest

from rnn_tui.engine import Config, Trainer, wire
from rnn_tui.engine.commands import RequestSample, UpdateHparams
from rnn_tui.engine.events import Snapshot


def example(hint: Any, salt: int = 0) -> Any:
    """A value of type `hint`, varied by `salt`, built only from the hint."""
    if hint is bool:
        return salt % 2 == 1
    if hint is int:
        return 7 + salt
    if hint is float:
        return 0.25 + salt
    if hint is str:
        return f'text {salt} é\n"quoted"'
    if hint is type(None):
        return None
    if hint is Any or hint is object:
        return {"n": salt, "nested": [1, "a", None, 2.5]}
    if hint is np.ndarray:
        return np.arange(6, dtype=np.float32).reshape(2, 3) + salt
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return example(next(a for a in args if a is not type(None)), salt)
    if origin is Literal:
        return args[salt % len(args)]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(example(args[0], salt + i) for i in range(2))
        return tuple(example(a, salt + i) for i, a in enumerate(args))
    if origin in (Mapping, dict, typing.Mapping):
        key, value = args
        keys = [2, 3] if key is int else ["alpha", "beta"]
        return {k: example(value, salt + i) for i, k in enumerate(keys)}
    if dataclasses.is_dataclass(hint):
        return instance(hint, salt)
    raise AssertionError(f"no example for {hint}")


def instance(cls: type, salt: int = 0) -> Any:
    hints = wire._hints(cls)
    kwargs = {f.name: example(hints[f.name], salt + i) for i, f in enumerate(wire._fields(cls))}
    try:
        return cls(**kwargs)
    except Exception:  # a dataclass that checks its values (e.g. Baselines): fit them
        return fitted(cls, kwargs)


def fitted(cls: type, kwargs: dict[str, Any]) -> Any:
    if "order" in kwargs and "ngram" in kwargs:  # Baselines: orders 2..order
        kwargs["order"] = 3
    return cls(**kwargs)


def same(a: Any, b: Any) -> bool:
    """Deep equality that compares arrays by dtype, shape and value (NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return type(a) is type(b) and a == b


def payload(frame: bytes) -> bytes:
    (length,) = wire.HEADER.unpack(frame[:4])
    assert length == len(frame) - 4
    return frame[4:]


@pytest.mark.parametrize("name", sorted(wire.SERVER_TYPES))
def test_every_event_and_protocol_message_round_trips(name):
    cls = wire.SERVER_TYPES[name]
    for salt in (0, 1):
        message = instance(cls, salt)
        back = wire.decode_message(payload(wire.encode(message)))
        assert same(message, back), (message, back)


@pytest.mark.parametrize("name", sorted(wire.COMMAND_TYPES))
def test_every_command_round_trips_with_its_id(name):
    cls = wire.COMMAND_TYPES[name]
    for salt, ident in ((0, 0), (1, 2**40)):
        command = instance(cls, salt)
        assert wire.decode_command(payload(wire.encode(command, id=ident))) == (ident, command)


def test_the_registries_are_the_unions_of_events_and_commands():
    from rnn_tui.engine.commands import Command
    from rnn_tui.engine.events import Event

    assert set(wire.EVENT_TYPES.values()) == set(get_args(Event))
    assert set(wire.COMMAND_TYPES.values()) == set(get_args(Command))


def test_a_real_runs_events_round_trip_exactly(small_text):
    trainer = Trainer(Config(hidden_size=12, seq_length=8, sample_every=5), small_text)
    events: list[Any] = []
    trainer.run(events.append, max_steps=12)
    events.append(trainer.info())
    events.append(trainer.weights_copy("w"))
    assert any(isinstance(e, Snapshot) for e in events)
    for event in events:
        back = wire.decode_message(payload(wire.encode(event)))
        assert same(event, back), type(event).__name__
    snapshot = wire.decode_message(payload(wire.encode(trainer.snapshot())))
    assert not snapshot.hidden.flags.writeable and not snapshot.train_curve.flags.writeable
    assert isinstance(snapshot.hparams, types.MappingProxyType)
    assert type(snapshot.hparams["sample_length"]) is int  # 200 stays 200, not 200.0


def test_an_int_under_float_or_int_stays_an_int_and_a_float_stays_a_float():
    command = UpdateHparams({"sample_length": 300, "learning_rate": 0.05})
    _, back = wire.decode_command(payload(wire.encode(command, id=1)))
    assert type(back.changes["sample_length"]) is int
    assert type(back.changes["learning_rate"]) is float


def command_frame(type_name: str, data: Any, ident: Any = 1) -> bytes:
    return json.dumps({"type": type_name, "data": data, "id": ident}).encode()


GOOD_SAMPLE = {
    "seed": "a",
    "length": 10,
    "temperature": 1.0,
    "greedy": False,
    "top_k": 0,
    "rng_seed": None,
    "tag": "t",
}

HOSTILE = {
    "garbage bytes": b"\xff\xfe\x00garbage",
    "not JSON": b"{not json",
    "a JSON list": b"[1, 2]",
    "deep nesting": b"[" * 50_000 + b"]" * 50_000,
    "unknown type": command_frame("Explode", {}),
    "an event sent as a command": command_frame("CheckpointSaved", {"path": "x", "step": 1}),
    "no id": json.dumps({"type": "Pause", "data": {}}).encode(),
    "a text id": command_frame("Pause", {}, "1"),
    "a negative id": command_frame("Pause", {}, -1),
    "an extra key": json.dumps({"type": "Pause", "data": {}, "id": 1, "x": 0}).encode(),
    "data not an object": command_frame("Pause", [1]),
    "a missing field": command_frame("RequestSample", {"seed": "a"}),
    "an unexpected field": command_frame("Pause", {"evil": 1}),
    "a wrong field type": command_frame("RequestSample", {**GOOD_SAMPLE, "length": "10"}),
    "a bool for an int": command_frame("RequestSample", {**GOOD_SAMPLE, "length": True}),
    "a float for an int": command_frame("RequestSample", {**GOOD_SAMPLE, "length": 10.0}),
    "a number for text": command_frame("RequestSample", {**GOOD_SAMPLE, "seed": 5}),
    "a list for a mapping": command_frame("UpdateHparams", {"changes": [1, 2]}),
    "text for a number in a mapping": command_frame(
        "UpdateHparams", {"changes": {"learning_rate": "0.1"}}
    ),
    "a huge integer": command_frame("RequestSample", GOOD_SAMPLE).replace(
        b'"length": 10', b'"length": ' + b"9" * 5000
    ),
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_whatever_a_viewer_may_send_that_is_not_a_command_is_a_wire_error(what):
    with pytest.raises(wire.WireError):
        wire.decode_command(HOSTILE[what])


def test_the_good_frame_the_hostile_ones_are_made_from_is_accepted():
    assert wire.decode_command(command_frame("RequestSample", GOOD_SAMPLE)) == (
        1,
        RequestSample("a", 10, 1.0, False, 0, None, "t"),
    )


def array_field(**array: Any) -> bytes:
    snapshot = json.loads(payload(wire.encode(instance(Snapshot))))
    snapshot["data"]["hidden"] = array
    return json.dumps(snapshot).encode()


@pytest.mark.parametrize(
    "array",
    [
        {"dtype": "object", "shape": [1], "data": base64.b64encode(b"x" * 8).decode()},
        {"dtype": "float64", "shape": [3], "data": base64.b64encode(b"x" * 8).decode()},
        {"dtype": "float64", "shape": [-1], "data": ""},
        {"dtype": "float64", "shape": [1] * 9, "data": base64.b64encode(b"x" * 8).decode()},
        {"dtype": "float64", "shape": [1], "data": "not base64!"},
        {"dtype": "float64", "shape": "1", "data": ""},
    ],
    ids=[
        "object dtype",
        "size mismatch",
        "negative shape",
        "too many dims",
        "bad base64",
        "shape text",
    ],
)
def test_malformed_arrays_are_refused(array):
    with pytest.raises(wire.WireError):
        wire.decode_message(array_field(**array))


def test_arrays_decode_read_only_with_their_dtype_and_shape():
    raw = np.arange(12, dtype=np.float64).reshape(3, 4)
    encoded = base64.b64encode(raw.astype("<f8").tobytes()).decode()
    back = wire.decode_message(array_field(dtype="float64", shape=[3, 4], data=encoded))
    assert back.hidden.shape == (3, 4) and back.hidden.dtype == np.float64
    assert np.array_equal(back.hidden, raw)
    with pytest.raises(ValueError):
        back.hidden[0, 0] = 1.0


def test_the_event_limit_covers_the_largest_frames_of_a_run(small_text):
    """WeightsCopied and a Snapshot of the run fit under the limit its viewers are told."""
    trainer = Trainer(Config(hidden_size=64, seq_length=32, dtype="float64"), small_text)
    limit = wire.max_event_bytes(trainer.info())
    weights = len(wire.encode(trainer.weights_copy()))
    window = 32 * 64 * 8 * 4 / 3
    assert weights < limit and window < limit
    assert limit - wire.MIN_EVENT_BYTES >= 2 * trainer.model.param_count() * 8 > weights - 200_000
