"""Frames on a run's socket: the events and commands of a run as length-prefixed JSON.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON,
`{"type": NAME, "data": {FIELD: VALUE, ...}}` (a command adds `"id"`, which its `Ack` echoes).
NAME is a dataclass of a closed registry derived from the `Event` and `Command` unions of
engine/events.py and engine/commands.py, so a new event or command travels as soon as it joins
its union; the protocol's own messages (`Hello`, `Ack`, `RunEnded`) and `RunInfo` complete it.

Decoding is directed by the dataclass's type hints and strict: every field present and of its
declared type, nothing else, arrays as `{dtype, shape, data}` (base64 of little-endian bytes)
decoded read-only, Mappings as read-only views, tuples as tuples. Anything else is a WireError,
and the server disconnects a viewer that sends one. Nothing is ever unpickled.
"""

from __future__ import annotations

import ast
import base64
import binascii
import dataclasses
import functools
import importlib
import inspect
import json
import math
import struct
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import numpy as np

from .commands import Command
from .events import Event, RunInfo

PROTOCOL = 1
HEADER = struct.Struct(">I")
MAX_COMMAND_BYTES = 64 * 1024  # the largest command (a sample's seed phrase) is far smaller
# Every event but two is tiny; a Snapshot carries the curves (2048 x 2), the hidden state of the
# last window (seq_length x hidden_size) and the newest sample, and WeightsCopied carries every
# parameter. `max_event_bytes(info)` sizes the limit from the run itself; this is its floor.
MIN_EVENT_BYTES = 64 * 1024 * 1024
ARRAY_DTYPES = frozenset(
    ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
)
MAX_ARRAY_DIMS = 8


class WireError(ValueError):
    """A frame that is not one of ours: malformed, oversize, of an unknown type or wrong fields."""


# -- the protocol's own messages ---------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """The server's first frame to a viewer; RunInfo and the newest Snapshot follow it."""

    protocol: int
    pid: int  # the process training the run
    max_event_bytes: int  # the largest frame this run can send (a viewer reads nothing larger)
    viewers: int  # viewers attached, this one included
    notes: tuple[str, ...] = ()  # the corpus x-ray the run printed when it started


@dataclass(frozen=True)
class Ack:
    """The answer to the command with `id`: accepted (`error` empty) or refused, and why.

    `kind` names the refusal's exception (ConfigError, CheckpointError, VocabError) so a remote
    front end raises what an in-process Trainer would have raised."""

    id: int
    kind: str = ""
    error: str = ""


@dataclass(frozen=True)
class RunEnded:
    """The run stopped (`reason`, as Trainer.run returns it) or is moving to another process
    ("moving": the same socket answers again in a moment, the run continues bit-exactly)."""

    reason: str


def _union_members(union: Any) -> tuple[type, ...]:
    return tuple(member for member in get_args(union) if dataclasses.is_dataclass(member))


EVENT_TYPES: Mapping[str, type] = MappingProxyType(
    {cls.__name__: cls for cls in _union_members(Event)}
)
COMMAND_TYPES: Mapping[str, type] = MappingProxyType(
    {cls.__name__: cls for cls in _union_members(Command)}
)
# what a server sends: the run's events and the protocol's messages
SERVER_TYPES: Mapping[str, type] = MappingProxyType(
    {**EVENT_TYPES, **{cls.__name__: cls for cls in (Hello, Ack, RunEnded, RunInfo)}}
)


def max_event_bytes(info: RunInfo) -> int:
    """The largest frame a run can send: its weights (WeightsCopied) or its hidden-state window
    (Snapshot), as base64 of 8-byte numbers, plus room for curves, samples and text."""
    window = info.seq_length * info.hidden_size
    largest = max(info.params, window) * 8
    return MIN_EVENT_BYTES + largest * 2


# -- frames ------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """Length prefix + payload."""
    return HEADER.pack(len(payload)) + payload


def encode(message: Any, id: int | None = None) -> bytes:
    """The frame of an event, a command (with its `id`) or a protocol message."""
    if not dataclasses.is_dataclass(message) or isinstance(message, type):
        raise TypeError(f"not a message: {message!r}")
    body: dict[str, Any] = {"type": type(message).__name__, "data": _encode_fields(message)}
    if id is not None:
        body["id"] = id
    return frame(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def decode_command(payload: bytes) -> tuple[int, Any]:
    """(id, command) from a viewer's frame, or WireError for anything else."""
    body = _parse(payload)
    ident = body.get("id")
    if type(ident) is not int or not 0 <= ident < 2**63:
        raise WireError("a command needs an integer id")
    if set(body) != {"type", "data", "id"}:
        raise WireError(f"unexpected keys in a command frame: {sorted(body)}")
    return ident, _decode_body(body, COMMAND_TYPES)


def decode_message(payload: bytes) -> Any:
    """An event or protocol message from a server's frame (WireError if it is not one)."""
    body = _parse(payload)
    if set(body) != {"type", "data"}:
        raise WireError(f"unexpected keys in a frame: {sorted(body)}")
    return _decode_body(body, SERVER_TYPES)


def _parse(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"not a JSON frame: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("a frame must be a JSON object")
    return body


def _decode_body(body: dict[str, Any], registry: Mapping[str, type]) -> Any:
    name = body.get("type")
    if not isinstance(name, str) or name not in registry:
        raise WireError(f"unknown message type {name!r}")
    return _decode_dataclass(body.get("data"), registry[name], name)


# -- values ------------------------------------------------------------------------------------


def _encode_fields(message: Any) -> dict[str, Any]:
    return {f.name: _encode(getattr(message, f.name)) for f in _fields(type(message))}


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        if array.dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"arrays of {array.dtype} do not travel")
        return {
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii"),
        }
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_fields(value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) or type(key) is int for key in value):
            raise TypeError("only mappings with text or integer keys travel")
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_encode(item) for item in value]
    raise TypeError(f"{type(value).__name__} does not travel: {value!r}")


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    module = sys.modules[cls.__module__]
    try:
        return get_type_hints(cls)
    except NameError:  # a name imported only `if TYPE_CHECKING:` (to keep imports light)
        return get_type_hints(cls, globalns={**vars(module), **_checking_names(module)})


def _checking_names(module: types.ModuleType) -> dict[str, Any]:
    """The names a module imports under `if TYPE_CHECKING:`, imported now: the wire needs the
    classes its annotations name (events.py keeps the yardstick modules out of its imports)."""
    names: dict[str, Any] = {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom):
                source = importlib.import_module(
                    "." * statement.level + (statement.module or ""), module.__package__
                )
                for alias in statement.names:
                    names[alias.asname or alias.name] = getattr(source, alias.name)
    return names


def _decode_dataclass(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise WireError(f"{where}: expected an object of fields")
    fields = _fields(cls)
    names = {f.name for f in fields}
    if set(value) != names:
        missing, extra = sorted(names - set(value)), sorted(set(value) - names)
        raise WireError(f"{where}: missing fields {missing}, unexpected fields {extra}")
    hints = _hints(cls)
    kwargs = {f.name: _decode(value[f.name], hints[f.name], f"{where}.{f.name}") for f in fields}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise WireError(f"{where}: {exc}") from None


_SCALARS: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str,),
    type(None): (type(None),),
}


def _decode(value: Any, hint: Any, where: str) -> Any:
    """`value` (parsed JSON) as the type `hint` declares, or WireError."""
    if hint is Any or hint is object:
        return _plain(value, where)
    if hint in _SCALARS:
        if type(value) not in _SCALARS[hint]:
            raise WireError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        return value  # an int stays an int under `float` (the numeric tower): 200 is not 200.0
    if hint is np.ndarray:
        return _decode_array(value, where)
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        # the arm of the value's own JSON type first: 3 stays an int under `float | int`
        exact = [arm for arm in args if arm is type(value)]
        for arm in [*exact, *(arm for arm in args if arm not in exact)]:
            try:
                return _decode(value, arm, where)
            except WireError:
                continue
        raise WireError(f"{where}: {type(value).__name__} matches none of {hint}")
    if origin is Literal:
        if not any(type(value) is type(arg) and value == arg for arg in args):
            raise WireError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise WireError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(item, args[0], f"{where}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise WireError(f"{where}: expected {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_decode(item, arg, f"{where}[{i}]") for i, (item, arg) in pairs)
    if origin in (Mapping, dict, typing.Mapping):
        key_hint, value_hint = args or (str, Any)
        if key_hint not in (str, int) or not isinstance(value, dict):
            raise WireError(f"{where}: expected an object")
        decoded = {
            _decode_key(key, key_hint, where): _decode(item, value_hint, f"{where}[{key!r}]")
            for key, item in value.items()
        }
        return decoded if origin is dict else MappingProxyType(decoded)
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(value, hint, where)
    raise WireError(f"{where}: values of type {hint} cannot be received")


def _decode_key(key: str, hint: type, where: str) -> str | int:
    """A JSON object's key as the mapping's key type (integers travel as their decimal text)."""
    if hint is str:
        return key
    if not (key.lstrip("-").isdigit() and key.isascii() and str(int(key)) == key):
        raise WireError(f"{where}: key {key!r} is not an integer")
    return int(key)


def _plain(value: Any, where: str) -> Any:
    """Any JSON value, as parsed (a config's values: numbers, text, None, lists, objects)."""
    return value


def _decode_array(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data"}:
        raise WireError(f"{where}: expected an array {{dtype, shape, data}}")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if dtype not in ARRAY_DTYPES:
        raise WireError(f"{where}: arrays of {dtype!r} are not accepted")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_ARRAY_DIMS
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise WireError(f"{where}: a shape is a short list of non-negative integers")
    if not isinstance(data, str):
        raise WireError(f"{where}: array data must be base64 text")
    kind = np.dtype(dtype).newbyteorder("<")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(f"{where}: array data is not base64") from None
    if len(raw) != math.prod(shape) * kind.itemsize:
        raise WireError(f"{where}: {len(raw)} bytes do not make an array of shape {shape}")
    return np.frombuffer(raw, dtype=kind).reshape(shape)  # read-only: a view of bytes
