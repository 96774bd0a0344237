"""Archive rows the pipeline adds: motion, artifact flags, prompt oscillation; the version-2 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from processing.outcomes import HrOscillation, PromptOutcome
from sensors.beats import Beat
from storage.archive import MIGRATIONS, SCHEMA_VERSION, Archive

T0 = 1_700_000_000.0


def _v1_archive(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO prompts (id, seq, user, t, kind, template_id, title, body, duration_s, expires_t,"
        " outcome_t, d_ln_rmssd, helped) VALUES ('p1', 7, 'u', ?, 'breathing', 'b1', 'Breathe', 'In, out',"
        " 60, ?, ?, 0.3, 1)",
        (T0, T0 + 600, T0 + 180),
    )
    con.commit()
    con.close()


def _outcome(osc: HrOscillation | None) -> PromptOutcome:
    return PromptOutcome("p1", T0 + 180, 0.2, -3.0, -10.0, True, 20, 24, osc)


def test_version_1_archive_migrates_and_keeps_its_prompts(tmp_path: Path) -> None:
    """A version-1 archive opens at the current version with its prompt rows intact and no oscillation yet;
    its old "helped" (the raw change) becomes came_down, and helped (against controls) is unknown."""
    _v1_archive(tmp_path / "archive.db")
    with Archive.in_dir(tmp_path) as ar:
        assert ar.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 6
        rows = ar.query(
            "SELECT id, title, d_ln_rmssd, came_down, helped, seq, osc_freq_hz, osc_amplitude_bpm FROM prompts"
        )
        assert ar.count("controls") == 0
    assert rows == [("p1", "Breathe", 0.3, 1, None, 7, None, None)]


def test_prompt_outcome_stores_the_hr_oscillation(tmp_path: Path) -> None:
    """A paced-breathing outcome's HR oscillation lands in the prompt's osc_* columns."""
    _v1_archive(tmp_path / "archive.db")
    with Archive.in_dir(tmp_path) as ar:
        ar.set_prompt_outcome(_outcome(HrOscillation(0.1, 12.5, 0.8)))
        ar.commit()
        row = ar.query("SELECT osc_freq_hz, osc_amplitude_bpm, osc_power_share, d_hr_bpm FROM prompts")[0]
    assert row == (0.1, 12.5, 0.8, -3.0)


def test_add_motion_stores_one_row_per_second(tmp_path: Path) -> None:
    """add_motion writes user, device, time and intensity with a fresh seq."""
    with Archive.in_dir(tmp_path) as ar:
        ar.add_motion("u", "d", T0, 42.5)
        ar.add_motion("u", "d", T0 + 1, 310.0)
        ar.commit()
        rows = ar.query("SELECT user, device, t, intensity, seq FROM motion ORDER BY t")
    assert [r[:4] for r in rows] == [("u", "d", T0, 42.5), ("u", "d", T0 + 1, 310.0)]
    assert rows[0][4] < rows[1][4]


def test_flag_beats_marks_once_and_bumps_seq(tmp_path: Path) -> None:
    """flag_beats sets artifact on the named beats, gives them a new seq once, and leaves others alone."""
    beats = [Beat(t=T0 + i * 0.9, rr_ms=900.0, device="d", user="u") for i in range(5)]
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(beats)
        before = dict(ar.query("SELECT t, seq FROM beats"))
        assert ar.flag_beats("u", "d", [beats[1].t, beats[3].t]) == 2
        assert ar.flag_beats("u", "d", [beats[1].t]) == 0
        ar.commit()
        after = {t: (seq, art) for t, seq, art in ar.query("SELECT t, seq, artifact FROM beats")}
    assert [after[b.t][1] for b in beats] == [0, 1, 0, 1, 0]
    assert after[beats[1].t][0] > max(before.values())
    assert after[beats[0].t][0] == before[beats[0].t]


def test_queued_flags_mark_beats_of_the_same_batch_once(tmp_path: Path) -> None:
    """queue_flags marks beats at the next write, a beat queued in the same batch too, with one new seq each
    newly flagged beat, as flag_beats does; a beat already flagged keeps its seq."""
    beats = [Beat(t=T0 + i * 0.9, rr_ms=900.0, device="d", user="u") for i in range(5)]
    with Archive.in_dir(tmp_path) as ar:
        ar.add_beats(beats[:3])
        ar.commit()
        before = dict(ar.query("SELECT t, seq FROM beats"))
        ar.queue_beats(beats[3:], [False, False])
        ar.queue_flags("u", "d", [beats[1].t, beats[4].t])
        ar.queue_flags("u", "d", [beats[1].t])  # flagged already by the first: no second seq
        ar.commit()
        after = {t: (seq, art) for t, seq, art in ar.query("SELECT t, seq, artifact FROM beats")}
    assert [after[b.t][1] for b in beats] == [0, 1, 0, 0, 1]
    new_seqs = {after[beats[1].t][0], after[beats[4].t][0]}
    assert len(new_seqs) == 2 and min(new_seqs) > max(before.values())
    assert after[beats[0].t][0] == before[beats[0].t]
    assert after[beats[3].t][0] < after[beats[4].t][0]


def test_queued_rows_are_written_strap_by_strap_in_arrival_order(tmp_path: Path) -> None:
    """Interleaved beats of three straps are written strap by strap (ids), each strap's in arrival order,
    every row with the seq it was given when it was queued."""
    with Archive.in_dir(tmp_path) as ar:
        for i in range(30):
            strap = ("c", "a", "b")[i % 3]
            ar.queue_beats([Beat(t=T0 + i, rr_ms=800.0 + i, device=f"d{strap}", user=strap)], [False])
        ar.commit()
        rows = ar.query("SELECT id, seq, user, t FROM beats ORDER BY id")
    assert [r[2] for r in rows] == ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    for user in "abc":
        mine = [r for r in rows if r[2] == user]
        assert [r[3] for r in mine] == sorted(r[3] for r in mine)
    assert sorted(r[1] for r in rows) == list(range(1, 31))
    assert all(r[1] == 1 + round(r[3] - T0) for r in rows)  # queued 1st, 2nd, ... : seq 1, 2, ...


def test_episode_exertion_flag_is_stored(tmp_path: Path) -> None:
    """An episode during ambiguous exertion keeps its flag in the archive (0 for the others)."""
    from processing.episodes import Episode

    def ep(i: int, exertion: bool) -> Episode:
        return Episode(f"u-{i}", "u", T0 + i, T0 + i + 60, T0 + i + 300, 99.0, 2.5, 40.0, 2.0, 300.0, 240.0,
                       60.0, 200.0, (), exertion=exertion)  # fmt: skip

    with Archive.in_dir(tmp_path) as ar:
        ar.add_episode(ep(1, True))
        ar.add_episode(ep(2, False))
        ar.commit()
        assert ar.query("SELECT id, exertion FROM episodes ORDER BY id") == [("u-1", 1), ("u-2", 0)]


def test_controls_are_stored_in_their_own_table_and_reload_as_references(tmp_path: Path) -> None:
    """A control and its outcome land in controls (never in prompts) and come back for the next session."""
    from processing.outcomes import ControlBasis, ControlMoment, ControlOutcome, OutcomeChange, Stage

    c = ControlMoment("ep1-onset-c", "u", T0, Stage.ONSET, ControlBasis.HELD_BACK, "ep1", 97.0)
    with Archive.in_dir(tmp_path) as ar:
        ar.add_control(c)
        ar.add_control(c)  # once only
        ar.set_control_outcome(ControlOutcome(c, T0 + 180, OutcomeChange(0.1, -1.5, -4.0, 0.4, 24, 25), 2.1))
        ar.commit()
        assert ar.count("controls") == 1 and ar.count("prompts") == 0
        row = ar.query("SELECT stage, basis, d_hr_bpm, d_a, a_at, outcome_t FROM controls")[0]
        assert row == ("onset", "held back", -1.5, 0.4, 2.1, T0 + 180)
        assert ar.load_control_changes("u") == [(Stage.ONSET, ControlBasis.HELD_BACK, 0.4, 2.1)]
        assert ar.load_control_changes("other") == []
