from __future__ import annotations

from pathlib import Path

import pytest

from cityhub.settings import load_settings


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    cfg = tmp_path / "cityhub.toml"
    cfg.write_text('port = 2000\nhost = "0.0.0.0"\nmax_limit = 50\n')
    s = load_settings({"port": 3000}, environ={"CITYHUB_HOST": "::1"}, config_file=cfg)
    assert s.port == 3000  # flag beats everything
    assert s.host == "::1"  # env beats file
    assert s.max_limit == 50  # file beats default
    assert s.default_limit == 20  # default


def test_bad_values_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port"):
        load_settings(environ={"CITYHUB_PORT": "abc"})
    cfg = tmp_path / "c.toml"
    cfg.write_text("nonsense = 1\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(environ={}, config_file=cfg)
