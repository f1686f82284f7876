import io

from replay.progress import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_terminal_bar_redraws_in_place_and_ends_with_a_newline() -> None:
    out, clock = FakeTty(), Clock()
    progress = Progress(1000, 4, stream=out, clock=clock)
    clock.now += 1
    progress.advance(revisions=500, nbytes=250, objects=1)
    clock.now += 1
    progress.advance(revisions=500, nbytes=750, objects=3)
    progress.finish()
    text = out.getvalue()
    assert text.count("\r") == 3
    assert "objects 4/4" in text
    assert "100.0%" in text
    assert "revisions 1000 (500/s)" in text
    assert text.endswith("\n")
    assert "eta 3s" in text.split("\r")[1]  # 25% done after 1 s


def test_log_lines_when_not_a_terminal_are_periodic() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(0, 2, stream=out, clock=clock, log_every_s=30)
    progress.advance(revisions=10)
    assert out.getvalue() == ""  # nothing before the first interval
    clock.now += 31
    progress.advance(revisions=10, objects=1)
    clock.now += 5
    progress.advance(revisions=10)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines == [lines[0]]
    assert lines[0].startswith("progress: ")
    assert "objects 1/2 revisions 20" in lines[0]


def test_disabled_progress_writes_nothing() -> None:
    out = FakeTty()
    progress = Progress(10, 1, stream=out, enabled=False)
    progress.advance(revisions=5, nbytes=10, objects=1)
    progress.finish()
    assert out.getvalue() == ""
