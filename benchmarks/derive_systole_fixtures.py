"""Derive the systole fixtures (tests/fixtures/systole_task1_*.npy) from the systole 0.3.1 sdist on PyPI.

Run by hand (it needs the sdist, about 50 MB, and NeuroKit2):

    pip download --no-deps --no-binary :all: systole==0.3.1 -d /tmp/systole
    tar xzf /tmp/systole/systole-0.3.1.tar.gz -C /tmp/systole
    python benchmarks/derive_systole_fixtures.py /tmp/systole/systole-0.3.1/src/systole/datasets

The sdist ships ``Task1_ECG.npy`` and ``Task1_Respiration.npy``: 25.6 minutes of ECG and a respiration
belt at 1000 Hz from one seated participant (Legrand et al., Sci Rep 2020;10:15008). This script detects
the R peaks in the ECG with NeuroKit2's ``ecg_peaks`` (method "neurokit", no artifact correction) and the
breaths in the belt signal with NeuroKit2's ``rsp_process`` (method "khodadad2018"), and saves:

* ``systole_task1_rpeaks_ms.npy`` — R-peak times in ms from the start (int64; 1000 Hz, so exact);
* ``systole_task1_breaths_ms.npy`` — end-of-inspiration (belt peak) times in ms from the start (int64).

Nothing else from the sdist is copied. Both detectors are NeuroKit2's, independent of calmstrap.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FS_HZ = 1000


def main(datasets: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk

        ecg = np.load(datasets / "Task1_ECG.npy")
        belt = np.load(datasets / "Task1_Respiration.npy")
        _, info = nk.ecg_peaks(ecg, sampling_rate=FS_HZ, method="neurokit", correct_artifacts=False)
        _, rinfo = nk.rsp_process(belt, sampling_rate=FS_HZ)
    rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64) * (1000 // FS_HZ)
    breaths = np.asarray(rinfo["RSP_Peaks"], dtype=np.int64) * (1000 // FS_HZ)
    for name, arr in (("systole_task1_rpeaks_ms.npy", rpeaks), ("systole_task1_breaths_ms.npy", breaths)):
        path = OUT / name
        np.save(path, arr)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{name}: {arr.size} values, sha256 {digest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
