from __future__ import annotations

from adapters.hl7.mllp import Frame, FramingError, MllpFramer, frame

MSG = b"MSH|^~\\&|A|B|||20250101||ORU^R01|1|P|2.6\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||72\r"


def test_two_frames_in_one_read() -> None:
    assert MllpFramer().feed(frame(MSG) + frame(MSG)) == [Frame(MSG), Frame(MSG)]


def test_frame_split_byte_by_byte_including_trailer() -> None:
    f = MllpFramer()
    events = [e for b in frame(MSG) for e in f.feed(bytes([b]))]
    assert events == [Frame(MSG)] and f.pending == 0


def test_nul_and_line_feeds_between_frames_are_skipped_quietly() -> None:
    f = MllpFramer()
    assert f.feed(b"\x00\n" + frame(MSG) + b"\r\n\x00" + frame(MSG) + b"\n") == [Frame(MSG), Frame(MSG)]
    assert f.junk_bytes == 6


def test_fs_without_cr_still_ends_the_frame() -> None:
    assert MllpFramer().feed(b"\x0b" + MSG + b"\x1c" + frame(MSG)) == [Frame(MSG), Frame(MSG)]


def test_junk_then_frame() -> None:
    events = MllpFramer().feed(b"GET / HTTP/1.0\r\n" + frame(MSG))
    assert events[0] == FramingError("bytes outside a frame", b"GET / HTTP/1.0\r\n") and events[1] == Frame(MSG)


def test_message_without_start_byte_then_a_good_one() -> None:
    f = MllpFramer()
    assert f.feed(MSG + b"\x1c") == [FramingError("message without start block", MSG + b"\x1c")]
    assert f.feed(b"\r" + frame(MSG)) == [Frame(MSG)]


def test_truncated_frame_resyncs_on_next_start() -> None:
    events = MllpFramer().feed(b"\x0bMSH|^~\\&|cut" + frame(MSG))
    assert events == [FramingError("frame truncated by a new start block", b"\x0bMSH|^~\\&|cut"), Frame(MSG)]


def test_oversized_frame_is_refused_in_one_read_and_across_reads() -> None:
    big = b"MSH|" + b"x" * 500
    f = MllpFramer(max_bytes=100)
    events = f.feed(frame(big) + frame(MSG))
    assert [type(e) for e in events] == [FramingError, Frame]
    assert isinstance(events[0], FramingError) and "larger than 100" in events[0].reason
    # streamed: the framer drops the body as it comes instead of buffering it
    f.feed(b"\x0b" + big)
    assert f.pending == 0
    events = f.feed(b"y" * 1000)
    assert events == [] and f.pending == 0
    events = f.feed(b"\x1c\r" + frame(MSG))
    assert [type(e) for e in events] == [FramingError, Frame]
