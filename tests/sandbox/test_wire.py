"""The plain-data channel: what a hostile worker can send is numbers or an error, nothing else."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from grader.rubric.probes import Rng
from grader.sandbox.outcomes import outcome_from_record
from grader.sandbox.worker.wire import (FrameReader, WireError, decode_arg, decode_array, decode_result, encode_arg, encode_array,
                         encode_result, frame)


@pytest.mark.parametrize("value", [np.float64(2.5), np.arange(6.0).reshape(2, 3), np.array(True),
                                   np.zeros((0, 3)), np.arange(4, dtype=np.int64)])
def test_arrays_round_trip_with_shape_and_dtype(value):
    back = decode_array(json.loads(json.dumps(encode_array(np.asarray(value)))))
    assert back.shape == np.shape(value) and back.dtype == np.asarray(value).dtype
    assert np.array_equal(back, value)


def test_arguments_round_trip_including_rng_and_lists():
    args = [np.arange(3.0), 2.0, "relu", [np.eye(2), np.ones(3)], Rng(7), None]
    back = [decode_arg(json.loads(json.dumps(encode_arg(a)))) for a in args]
    assert np.array_equal(back[0], args[0]) and back[1:3] == [2.0, "relu"]
    assert all(np.array_equal(x, y) for x, y in zip(back[3], args[3]))
    assert np.array_equal(back[4].normal(size=3), np.random.default_rng(7).normal(size=3))


class Lying(np.ndarray):
    def __eq__(self, other):
        return True


class FakeArray:
    def __array__(self, dtype=None, copy=None):
        return np.array([1.0, 2.0])


@pytest.mark.parametrize("value, expected", [
    (np.arange(3.0).view(Lying), np.arange(3.0)),
    (FakeArray(), np.array([1.0, 2.0])),
    ([1, 2, 3], np.array([1.0, 2.0, 3.0])),
    (3, np.array(3.0)),
])
def test_results_become_plain_float_arrays_whatever_the_student_returned(value, expected):
    decoded, _ = decode_result(json.loads(json.dumps(encode_result(value))))
    assert type(decoded) is np.ndarray and decoded.dtype == np.float64
    assert np.array_equal(decoded, expected)


def test_tuples_stay_tuples_and_bools_stay_bool():
    decoded, _ = decode_result(encode_result((np.zeros(2), np.array([True, False]))))
    assert isinstance(decoded, tuple) and decoded[1].dtype == np.bool_


@pytest.mark.parametrize("value", ["text", {"a": 1}, np.array([1j]), object()])
def test_non_numeric_results_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        encode_result(value)


@pytest.mark.parametrize("record", [
    {"dtype": "object", "shape": [1], "b64": ""},
    {"dtype": "float64", "shape": [2], "b64": base64.b64encode(b"\0" * 8).decode()},
    {"dtype": "float64", "shape": [-1], "b64": ""},
    {"dtype": "float64", "shape": [10**9], "b64": ""},
    {"dtype": "float64", "shape": [1], "b64": "!!!"},
    {"dtype": "float64", "shape": [1], "b64": "AAAAAAAAAAA=", "extra": 1},
    ["not", "a", "record"],
])
def test_malformed_array_records_are_refused(record):
    with pytest.raises((WireError, ValueError)):
        decode_array(record)


def test_hostile_call_records_become_invalid_outcomes_not_errors():
    assert outcome_from_record({"status": "ok", "result": {"value": {"dtype": "object"}}}).status == "invalid"
    assert outcome_from_record({"status": "pwned"}).status == "invalid"
    assert outcome_from_record("garbage").status == "invalid"
    long = outcome_from_record({"status": "raised", "error_type": "E" * 10_000, "error_message": "m" * 10_000})
    assert len(long.error_type) <= 80 and len(long.error_message) <= 400


def test_frames_split_a_stream_and_refuse_oversized_frames():
    reader = FrameReader(max_frame=1000)
    data = frame({"a": 1}) + frame({"b": 2})
    assert reader.feed(data[:5]) == [] and reader.feed(data[5:]) == [{"a": 1}, {"b": 2}]
    with pytest.raises(WireError, match="over the limit"):
        FrameReader(max_frame=10).feed(frame({"x": "y" * 100}))
    with pytest.raises(WireError, match="not JSON"):
        FrameReader().feed(b"\0\0\0\3abc")


def test_frames_with_too_much_json_are_refused_before_they_are_buffered_or_decoded():
    """JSON decodes into up to 25 times its size in Python objects ("[[],[],...]": 64 MiB of it took
    1.6 GiB in the trusted process): the worker's frames hold little JSON, their arrays go raw."""
    from grader.sandbox.worker.wire import MAX_JSON, Chunks

    pad = frame({"ev": "cell", "i": 0, "pad": [[]] * (MAX_JSON // 3)})
    with pytest.raises(WireError, match="bytes of JSON, over the limit"):
        FrameReader().feed(pad[:5])  # the length and the first byte are enough: nothing is buffered
    chunks = Chunks()
    header = {"ev": "result", "pad": "x" * (MAX_JSON + 1)}
    with pytest.raises(WireError, match="bytes of JSON, over the limit"):
        FrameReader().feed(frame(header, chunks)[:9])
    assert FrameReader().feed(frame({"ev": "cell", "i": 0, "pad": [[]] * (MAX_JSON // 5)}))[0]["i"] == 0
    # the largest result the grader accepts (4,000,000 float64, 32 MB) is a small header and raw bytes
    chunks = Chunks()
    tree = encode_result(np.ones(4_000_000), chunks=chunks)
    (obj,) = FrameReader().feed(frame({"ev": "result", "status": "ok", "result": tree}, chunks))
    assert decode_result_blob(obj).shape == (4_000_000,)


def decode_result_blob(obj):
    from grader.sandbox.worker.wire import read_result

    return read_result(obj["result"], obj["blob"]).value


def test_results_say_whether_a_list_or_a_tuple_was_returned():
    """The record keeps the difference: a list (or tuple) of numbers crosses as one array marked with its kind;
    a tuple of arrays, or items that do not form one array, cross item by item."""
    assert encode_result([[1.0, 2.0], [3.0, 4.0]])["container"] == "list"
    assert encode_result((1.0, 2.0))["container"] == "tuple"
    assert "container" not in encode_result(np.ones(2)) and "container" not in encode_result(2.0)
    assert set(encode_result((np.ones((2, 3)), np.ones(2)))) == {"tuple"}
    assert set(encode_result([np.ones((2, 3)), np.ones(2)])) == {"list"}
    assert set(encode_result((np.ones(2), np.zeros(2)))) == {"tuple"}  # several results, each its own dtype
    decoded, _ = decode_result(json.loads(json.dumps(encode_result([np.ones(2), np.zeros(2)]))))
    assert type(decoded) is np.ndarray and decoded.shape == (2, 2)  # a list of rows is one array


# --- binary frames: a result's arrays as raw bytes after a small JSON header -----------------------
def _binary(value):
    from grader.sandbox.worker.wire import Chunks

    chunks = Chunks()
    tree = encode_result(value, chunks=chunks)
    (obj,) = FrameReader().feed(frame({"ev": "result", "status": "ok", "result": tree}, chunks))
    return obj


@pytest.mark.parametrize("value", [np.arange(6.0).reshape(2, 3), 3, [1, 2, 3], (1.0, 2.0), np.array([True, False]),
                                   (np.ones((2, 3)), np.zeros(2)), [np.ones((2, 3)), np.ones(2)], np.zeros((0, 4)),
                                   (np.eye(2), (np.ones(3), 2.0))])
def test_binary_frames_decode_to_what_the_json_encoding_gives(value):
    obj = _binary(value)
    assert "b64" not in json.dumps({k: v for k, v in obj.items() if k != "blob"})
    via_json = outcome_from_record({"status": "ok", "result": json.loads(json.dumps(encode_result(value)))})
    via_binary = outcome_from_record(obj)
    assert via_binary.status == via_json.status == "ok"
    assert (via_binary.source_dtype, via_binary.container) == (via_json.source_dtype, via_json.container)
    flat = lambda v: [v] if isinstance(v, np.ndarray) else [x for item in v for x in flat(item)]  # noqa: E731
    for a, b in zip(flat(via_binary.value), flat(via_json.value), strict=True):
        assert type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        assert a.flags.writeable  # a copy of its own, not a view of the frame


def _forged(header: dict, data: bytes) -> bytes:
    head = json.dumps(header).encode()
    payload = b"\0" + len(head).to_bytes(4, "big") + head + data
    return len(payload).to_bytes(4, "big") + payload


def _rec(off, shape=(2,)):
    return {"status": "ok", "result": {"value": {"dtype": "float64", "shape": list(shape), "off": off},
                                       "source_dtype": "float64"}}


@pytest.mark.parametrize("result, data", [
    (_rec(8)["result"], b"\0" * 16),  # past the end
    (_rec(-8)["result"], b"\0" * 16),  # before the start
    (_rec("0")["result"], b"\0" * 16),  # not an int
    (_rec(True)["result"], b"\0" * 16),  # a bool is not an offset
    ({"tuple": [_rec(0)["result"], _rec(0)["result"]]}, b"\0" * 16),  # the same bytes twice (no aliasing)
    ({"tuple": [_rec(8, (1,))["result"], _rec(0, (1,))["result"]]}, b"\0" * 16),  # going backwards
    (_rec(0, (10**6,))["result"], b"\0" * 16),  # a shape the bytes do not cover
])
def test_forged_binary_records_become_invalid_outcomes(result, data):
    (obj,) = FrameReader().feed(_forged({"ev": "result", "status": "ok", "result": result}, data))
    assert outcome_from_record(obj).status == "invalid"


def test_only_a_binary_frame_carries_bytes_and_json_cannot_pose_as_them():
    # an "off" record in a JSON frame (with or without a "blob" key of its own) is refused
    forged = {"ev": "result", **_rec(0), "blob": "AAAAAAAAAAAAAAAAAAAAAA=="}
    (obj,) = FrameReader().feed(frame(forged))
    assert outcome_from_record(obj).status == "invalid"
    assert outcome_from_record(_rec(0)).status == "invalid"
    # a binary frame's own "blob" key is replaced by its real bytes
    (obj,) = FrameReader().feed(_forged({**_rec(0), "blob": [1, 2]}, np.array([1.5, 2.5]).tobytes()))
    assert np.array_equal(outcome_from_record(obj).value, [1.5, 2.5])


@pytest.mark.parametrize("raw", [
    b"\0\0\0\3\0\0\0",  # too short for its header length
    b"\0\0\0\5\0\0\0\0\x09",  # a header longer than the frame
    b"\0\0\0\7\0\0\0\0\2{x",  # a header that is not JSON
])
def test_malformed_binary_frames_are_refused(raw):
    with pytest.raises(WireError):
        FrameReader().feed(raw)


def test_a_binary_frame_that_is_not_an_object_comes_out_as_it_is():
    (obj,) = FrameReader().feed(_forged([1, 2], b"abc"))  # type: ignore[arg-type]
    assert obj == [1, 2]  # the driver refuses it as "a frame that is not an object"
