"""The WAL is checkpointed on a size that fits the data: a replay needs little more free space
than the database itself (it used to grow to 200 MB whatever the database size)."""

from __future__ import annotations

from pathlib import Path

from projections.sqlite import WAL_CHECKPOINT_BYTES, SQLiteProjection
from tests.support.builders import make_change

DOC_BYTES = 8000
BATCH = 400


def test_the_wal_stays_within_half_the_database_or_16_mib_plus_one_batch(tmp_path: Path) -> None:
    path = tmp_path / "grow.db"
    projection = SQLiteProjection(path)
    batch_bytes = 2 * BATCH * DOC_BYTES  # current state and history rows
    peak_excess = 0
    for version in range(12):
        for start in range(0, 2000, BATCH):
            changes = [
                make_change(f"doc{i}", version, data={"text": f"{version}{i}" * (DOC_BYTES // 8)})
                for i in range(start, start + BATCH)
            ]
            assert projection.apply(changes).applied == BATCH
            pages, page_size = (
                projection.connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("page_count", "page_size")
            )
            database = pages * page_size  # its size once checkpointed (the file lags behind)
            wal = Path(f"{path}-wal").stat().st_size
            allowed = max(WAL_CHECKPOINT_BYTES[0], database // 2) + 2 * batch_bytes
            peak_excess = max(peak_excess, wal - allowed)
    assert path.stat().st_size > 3 * WAL_CHECKPOINT_BYTES[0]  # past the lower clamp
    assert peak_excess <= 0, f"the WAL grew {peak_excess} bytes beyond its bound"
    projection.close()
    assert not Path(f"{path}-wal").exists()  # removed when the last connection closes
