import logging
import time

from det.utils import logger as det_logger
from det.utils.logger import log_every_n, log_every_n_seconds, log_first_n, setup_logger


def test_setup_logger_files_per_rank(tmp_path, capsys):
    log0 = setup_logger(str(tmp_path), distributed_rank=0, name="det_test_rank0")
    log0.info("hello from rank 0")
    log1 = setup_logger(str(tmp_path), distributed_rank=1, name="det_test_rank1")
    log1.info("hello from rank 1")
    # Same arguments: no second set of handlers, so no duplicated lines.
    setup_logger(str(tmp_path), distributed_rank=0, name="det_test_rank0").info("again")
    out = capsys.readouterr().out
    assert "hello from rank 0" in out and "hello from rank 1" not in out
    assert out.count("again") == 1
    rank0 = (tmp_path / "log.txt").read_text()
    assert "hello from rank 0" in rank0 and "det_test_rank0 INFO" in rank0
    assert rank0.count("again") == 1
    assert "hello from rank 1" in (tmp_path / "log.txt.rank1").read_text()


def test_log_first_n_and_every_n(caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            log_first_n(logging.INFO, "first-two", n=2, name="det_test_n")
        for _ in range(5):
            log_every_n(logging.INFO, "every-two", n=2, name="det_test_n")
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("first-two") == 2
    assert messages.count("every-two") == 3  # calls 1, 3, 5


def test_log_every_n_seconds(caplog, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(det_logger.time, "time", lambda: now[0])
    with caplog.at_level(logging.INFO):
        for step in range(6):
            now[0] = 1000.0 + step * 0.4  # 0, 0.4, ..., 2.0 seconds
            log_every_n_seconds(logging.INFO, "tick", n=1, name="det_test_sec")
    # Logged at t=0, 1.2 (>= 1 s after 0), 2.0 is only 0.8 s after 1.2.
    assert [r.getMessage() for r in caplog.records].count("tick") == 2
    assert time.time() > 0  # the real clock is untouched outside the module
