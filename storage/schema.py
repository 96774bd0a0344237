"""The archive's schema: its tables, their migrations (``PRAGMA user_version``), the tables that carry ``seq``."""

from __future__ import annotations

WINDOW_FEATURES: tuple[str, ...] = (
    "n_beats",
    "artifact_pct",
    "mean_rr_ms",
    "mean_hr_bpm",
    "sdnn_ms",
    "rmssd_ms",
    "pnn50_pct",
    "lf_ms2",
    "hf_ms2",
    "lf_hf",
    "sd1_ms",
    "sd2_ms",
    "dfa_a1",
    "stress_index",
    "resp_rate_bpm",
)

MIGRATIONS: tuple[str, ...] = (
    # version 1
    f"""
    CREATE TABLE beats (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, rr_ms REAL NOT NULL, artifact INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user, device, t)
    );
    CREATE INDEX beats_seq ON beats (seq);
    CREATE INDEX beats_user_t ON beats (user, t);
    CREATE TABLE gaps (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        start_t REAL NOT NULL, end_t REAL NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX gaps_seq ON gaps (seq);
    CREATE TABLE windows (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        channel TEXT NOT NULL, t REAL NOT NULL, window_s REAL NOT NULL,
        {", ".join(f"{c} REAL" for c in WINDOW_FEATURES)}, valid INTEGER NOT NULL
    );
    CREATE INDEX windows_seq ON windows (seq);
    CREATE INDEX windows_user_t ON windows (user, channel, t);
    CREATE TABLE arousal (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
        score REAL NOT NULL, a REAL NOT NULL, z_hr REAL, z_ln_rmssd REAL, state TEXT NOT NULL,
        warming_up INTEGER NOT NULL, gated INTEGER NOT NULL, hr_bpm REAL, rmssd_ms REAL
    );
    CREATE INDEX arousal_seq ON arousal (seq);
    CREATE INDEX arousal_user_t ON arousal (user, t);
    CREATE TABLE episodes (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, onset_t REAL NOT NULL,
        peak_t REAL NOT NULL, end_t REAL NOT NULL, peak_score REAL NOT NULL, peak_a REAL NOT NULL,
        amplitude REAL NOT NULL, amplitude_a REAL NOT NULL, duration_s REAL NOT NULL,
        recovery_s REAL NOT NULL, t50_s REAL NOT NULL, area_a_s REAL NOT NULL, prompt_ids TEXT NOT NULL
    );
    CREATE INDEX episodes_seq ON episodes (seq);
    CREATE TABLE prompts (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
        template_id TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, duration_s REAL NOT NULL,
        expires_t REAL NOT NULL, reason_episode_id TEXT, reason_score REAL,
        inhale_s REAL, hold_s REAL, exhale_s REAL, delivered_via TEXT,
        outcome_t REAL, d_ln_rmssd REAL, d_hr_bpm REAL, d_score REAL, helped INTEGER, feedback_helped INTEGER
    );
    CREATE INDEX prompts_seq ON prompts (seq);
    CREATE TABLE baseline (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
        bin TEXT NOT NULL DEFAULT 'all', hr_bpm REAL NOT NULL, hr_sd REAL NOT NULL,
        ln_rmssd REAL NOT NULL, ln_rmssd_sd REAL NOT NULL, n_windows INTEGER NOT NULL, source TEXT NOT NULL
    );
    CREATE INDEX baseline_seq ON baseline (seq);
    CREATE TABLE device_status (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, battery_pct REAL, connected INTEGER
    );
    CREATE INDEX device_status_seq ON device_status (seq);
    CREATE TABLE motion (
        id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, device TEXT NOT NULL,
        t REAL NOT NULL, intensity REAL NOT NULL
    );
    CREATE INDEX motion_seq ON motion (seq);
    CREATE TABLE weekly_progress (
        user TEXT NOT NULL, week TEXT NOT NULL, seq INTEGER NOT NULL, week_start_t REAL NOT NULL,
        hours_worn REAL, episodes INTEGER, episodes_per_hour REAL, median_amplitude REAL,
        median_t50_s REAL, median_recovery_s REAL, resting_ln_rmssd REAL, resting_ln_rmssd_lo REAL,
        resting_ln_rmssd_hi REAL, resting_hr_bpm REAL, prompts_sent INTEGER, prompts_helped INTEGER,
        helped_share REAL,
        PRIMARY KEY (user, week)
    );
    CREATE INDEX weekly_progress_seq ON weekly_progress (seq);
    CREATE TABLE sync_watermark (
        sink TEXT NOT NULL, tbl TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sink, tbl)
    );
    """,
    # version 2: the HR oscillation of a paced-breathing prompt's outcome (processing.outcomes.HrOscillation)
    """
    ALTER TABLE prompts ADD COLUMN osc_freq_hz REAL;
    ALTER TABLE prompts ADD COLUMN osc_amplitude_bpm REAL;
    ALTER TABLE prompts ADD COLUMN osc_power_share REAL
    """,
    # version 3: seq from the database itself (one row, moved inside each writing transaction); the import
    # journal (which seq ranges an import wrote, so a failed or interrupted one is removed whole); rows
    # InfluxDB refused for good (quarantine)
    """
    CREATE TABLE seq_counter (id INTEGER PRIMARY KEY CHECK (id = 0), seq INTEGER NOT NULL);
    INSERT INTO seq_counter (id, seq) SELECT 0, MAX(
        (SELECT COALESCE(MAX(seq), 0) FROM beats), (SELECT COALESCE(MAX(seq), 0) FROM gaps),
        (SELECT COALESCE(MAX(seq), 0) FROM windows), (SELECT COALESCE(MAX(seq), 0) FROM arousal),
        (SELECT COALESCE(MAX(seq), 0) FROM episodes), (SELECT COALESCE(MAX(seq), 0) FROM prompts),
        (SELECT COALESCE(MAX(seq), 0) FROM baseline), (SELECT COALESCE(MAX(seq), 0) FROM device_status),
        (SELECT COALESCE(MAX(seq), 0) FROM motion), (SELECT COALESCE(MAX(seq), 0) FROM weekly_progress));
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY, user TEXT NOT NULL, device TEXT NOT NULL, path TEXT NOT NULL,
        pid INTEGER NOT NULL, started_t REAL NOT NULL, state TEXT NOT NULL, first_seq INTEGER
    );
    CREATE TABLE import_chunks (
        import_id INTEGER NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
        first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL
    );
    CREATE INDEX import_chunks_import ON import_chunks (import_id);
    CREATE TABLE influx_quarantine (
        id INTEGER PRIMARY KEY, sink TEXT NOT NULL, tbl TEXT NOT NULL, row_seq INTEGER NOT NULL,
        quarantined_t REAL NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, line TEXT NOT NULL
    );
    CREATE INDEX influx_quarantine_sink ON influx_quarantine (sink, tbl)
    """,
    # version 4: controls (moments held back at random, matched unprompted stretches) and the prompt's two
    # verdicts: came_down (the raw change, what "helped" meant before) and helped (better than the controls)
    """
    CREATE TABLE controls (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, t REAL NOT NULL, stage TEXT NOT NULL,
        basis TEXT NOT NULL, reason_episode_id TEXT, reason_score REAL, a_at REAL, outcome_t REAL,
        d_ln_rmssd REAL, d_hr_bpm REAL, d_score REAL, d_a REAL, n_before INTEGER, n_after INTEGER
    );
    CREATE INDEX controls_seq ON controls (seq);
    CREATE INDEX controls_user_t ON controls (user, t);
    ALTER TABLE prompts ADD COLUMN stage TEXT;
    ALTER TABLE prompts ADD COLUMN d_a REAL;
    ALTER TABLE prompts ADD COLUMN came_down INTEGER;
    ALTER TABLE prompts ADD COLUMN helped_basis TEXT;
    ALTER TABLE prompts ADD COLUMN n_reference INTEGER;
    UPDATE prompts SET came_down = helped, helped = NULL WHERE helped IS NOT NULL
    """,
    # version 5: breathing practice sessions, one row each (storage.practice)
    """
    CREATE TABLE practice (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user TEXT NOT NULL, start_t REAL NOT NULL,
        end_t REAL NOT NULL, minutes REAL NOT NULL, breaths_per_min REAL NOT NULL, origin TEXT NOT NULL,
        completed INTEGER NOT NULL, n_beats INTEGER NOT NULL, osc_freq_hz REAL, osc_amplitude_bpm REAL,
        osc_power_share REAL, hr_change_bpm REAL
    );
    CREATE INDEX practice_seq ON practice (seq);
    CREATE INDEX practice_user_t ON practice (user, start_t)
    """,
    # version 6: an episode during ambiguous exertion is kept and flagged (processing.episodes.Episode.exertion)
    """
    ALTER TABLE episodes ADD COLUMN exertion INTEGER NOT NULL DEFAULT 0
    """,
    # version 7: each strap session's state snapshot (processing.snapshot), so a restart resumes it; how far
    # ``calmstrap archive`` has applied each results stream (calmstrap/cmd_cluster.py)
    """
    CREATE TABLE checkpoint (
        user TEXT NOT NULL, device TEXT NOT NULL, t REAL NOT NULL, state BLOB NOT NULL,
        PRIMARY KEY (user, device)
    );
    CREATE TABLE stream_applied (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL)
    """,
    # version 8: the beats' second user-keyed index goes (issue 14, point 5): every commit rewrote one of its
    # leaf pages per strap; reads by user and time now go device by device on the (user, device, t) key
    # (storage.archive.Archive.devices), which the unique constraint keeps anyway
    """
    DROP INDEX IF EXISTS beats_user_t
    """,
    # version 9: a strap session's start reads its user's newest baseline row per bin; with only the seq
    # index that read walked back over every user's newer rows (a clinic's start-up grew with the square
    # of its users: 20,000 sessions did not start in 8 minutes)
    """
    CREATE INDEX baseline_user_bin ON baseline (user, bin, seq)
    """,
    # version 10: the beats journal of the grouped commits (issue 14, point 5; storage.event_rows.
    # EventRows.fold_journal): beats and their flags appended without an index, folded into beats every
    # few seconds, strap by strap
    """
    CREATE TABLE beats_recent (
        user TEXT NOT NULL, device TEXT NOT NULL, t REAL NOT NULL, rr_ms REAL NOT NULL, artifact INTEGER NOT NULL
    );
    CREATE TABLE beat_flags_recent (user TEXT NOT NULL, device TEXT NOT NULL, t REAL NOT NULL)
    """,
    # version 11: the windows and arousal journals, as the beats' (storage.event_rows.JOURNALS)
    f"""
    CREATE TABLE windows_recent (
        user TEXT NOT NULL, device TEXT NOT NULL, channel TEXT NOT NULL, t REAL NOT NULL, window_s REAL NOT NULL,
        {", ".join(f"{c} REAL" for c in WINDOW_FEATURES)}, valid INTEGER NOT NULL
    );
    CREATE TABLE arousal_recent (
        user TEXT NOT NULL, t REAL NOT NULL, score REAL NOT NULL, a REAL NOT NULL, z_hr REAL, z_ln_rmssd REAL,
        state TEXT NOT NULL, warming_up INTEGER NOT NULL, gated INTEGER NOT NULL, hr_bpm REAL, rmssd_ms REAL
    )
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
SEQ_TABLES: tuple[str, ...] = (
    "beats",
    "gaps",
    "windows",
    "arousal",
    "episodes",
    "prompts",
    "baseline",
    "device_status",
    "motion",
    "weekly_progress",
    "controls",
    "practice",
)
