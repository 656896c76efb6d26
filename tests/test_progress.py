"""Long work says how far it got and how long it has left, also in a log file."""

import io

from lightning_gans.progress import Progress, format_duration


def test_a_log_file_gets_a_start_line_progress_lines_with_time_left_and_an_end_line():
    stream = io.StringIO()  # not a terminal: plain lines, no bar
    with Progress(100, "[Work] images", every_seconds=0.0, stream=stream) as progress:
        progress.update(25)
        progress.update(25)
        progress.update(50)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[Work] images: 0/100 images"
    assert lines[1].startswith("[Work] images: 25/100 images (25%), ") and lines[1].endswith(" left")
    assert lines[2].startswith("[Work] images: 50/100 images (50%), ")
    assert lines[-1].startswith("[Work] images: 100/100 images in ")
    assert len(lines) == 4  # no progress line once the work is done


def test_disabled_progress_is_silent():
    stream = io.StringIO()
    with Progress(10, "[Work]", enabled=False, stream=stream) as progress:
        progress.update(10)
    assert stream.getvalue() == ""


def test_durations_read_naturally():
    assert [format_duration(s) for s in (0.42, 42, 185, 3720)] == ["0.4s", "42s", "3m05s", "1h02m"]
