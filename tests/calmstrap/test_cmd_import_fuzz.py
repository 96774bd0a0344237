"""A property-based fuzzer over import files and ``--start``: a clean error with nothing written, or all of it."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from calmstrap.cli import main
from storage.archive import SEQ_TABLES, Archive

numbers = st.one_of(
    st.integers(min_value=-10, max_value=70_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0.2, max_value=2.0).map(lambda v: f"{v:.3f}"),
    st.integers(min_value=300, max_value=1500).map(str),
    st.sampled_from(["", " ", "81O", "1,5", "1e400", "-0", "0x10", "800;", "800,,", "\t800"]),
)
epochs = st.one_of(
    st.floats(min_value=1.5e9, max_value=1.76e9).map(lambda v: f"{v:.3f}"),  # seconds
    st.integers(min_value=1_500_000_000_000, max_value=1_760_000_000_000).map(str),  # ms
    st.integers(min_value=1_500_000_000_000_000, max_value=1_760_000_000_000_000).map(str),  # µs
    st.sampled_from(
        ["2024-03-01T10:00:00.800+00:00", "2024-03-01 10:00:01", "0", "100.5", "9e99", "x", "nan"]
    ),
)
headers = st.sampled_from(
    [
        "rr",
        "RR-interval [ms]",
        "time,rr_ms",
        "Phone timestamp;RR-interval [ms]",
        "date\trr",
        "# start: 2026-11-02T10:00:00.123Z",
        "# start: not-a-time",
        "# Kubios HRV",
        "a,b,c",
    ]
)


@st.composite
def good_files(draw: st.DrawFn, with_times: bool) -> str:
    """Mostly valid files (so that complete imports are common), sometimes with one bad line anywhere."""
    rr = draw(st.lists(st.integers(min_value=300, max_value=1500), min_size=1, max_size=400))
    if with_times:
        scale = draw(st.sampled_from([1, 1000, 1_000_000]))
        t = draw(st.floats(min_value=1.6e9, max_value=1.75e9))
        lines = ["time,rr"]
        for v in rr:
            t += v / 1000.0 * draw(st.sampled_from([1, 1, 1, 0, 5]))  # 0: a duplicate time, 5: a pause
            lines.append(f"{t * scale:.3f},{v}")
    else:
        lines = ["# start: 2026-11-02T10:00:00.123Z"] if draw(st.booleans()) else []
        lines += [str(v) for v in rr]
    if draw(st.integers(0, 3)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(numbers))
    return "\n".join(lines) + "\n"


@st.composite
def import_files(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(["kubios", "one_col", "two_col", "mixed", "good", "good", "good_csv", "good_csv"])
    )
    if kind.startswith("good"):
        return draw(good_files(kind == "good_csv"))
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(draw(headers))
    n = draw(st.integers(min_value=0, max_value=40))
    t = draw(epochs)
    for _ in range(n):
        if kind == "kubios" or kind == "one_col":
            lines.append(draw(numbers))
        elif kind == "two_col":
            if draw(st.integers(0, 9)) == 0:
                t = draw(epochs)
            lines.append(f"{t},{draw(numbers)}")
            if draw(st.booleans()):
                with contextlib.suppress(ValueError):
                    t = repr(float(t) + 0.8)
        else:
            lines.append(draw(st.text(max_size=20)))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


starts = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=1.5e9, max_value=1.76e9).map(repr),
    st.sampled_from(
        ["inf", "nan", "1e20", "-5", "1700000000000", "2026-11-02T08:00", "2026-13-01", "", "today"]
    ),
)


def _import(data: Path, f: Path, start: str | None) -> tuple[int, str, str]:
    args = ["import", str(f), "--user", "fz", "--data-dir", str(data)]
    if start is not None:
        args.append(f"--start={start}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse's usage errors: clean, exit 2
            rc = int(exc.code or 0)
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=import_files(), start=starts)
def test_every_import_is_a_clean_error_with_nothing_written_or_complete(text: str, start: str | None) -> None:
    """Whatever the file and --start: no traceback; rc 0 stores exactly what it reports, else nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        f = root / "in.txt"
        f.write_text(text, encoding="utf-8")
        data = root / "data"
        rc, out, err = _import(data, f, start)  # an exception other than SystemExit fails the test here
        assert "Traceback" not in err
        event("imported" if rc == 0 else "refused")
        with Archive.in_dir(data) as a:
            counts = {t: a.count(t) for t in SEQ_TABLES}
            journal = a.query("SELECT state FROM imports")
        if rc == 0:
            m = re.match(r"imported (\d+) beats", out)
            assert m is not None, out
            assert counts["beats"] == int(m.group(1)) > 0
            assert counts["baseline"] == 1
            assert journal == [("done",)]
        else:
            assert rc in (1, 2), (rc, err)
            assert "nothing imported" in err or "usage:" in err or "error:" in err, err
            assert all(v == 0 for v in counts.values()), counts
            assert journal == []
