"""Every string a reader meets has its Korean and Chinese translation.

makemessages runs on a copy of the sources (it rewrites the catalogues it finds), and every
message it extracts must be translated in the committed catalogues."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["config", "papers", "digest", "synth", "templates", "locale", "manage.py"]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("messages")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    # Addresses that are never dialled: makemessages needs no server, and the copy must not
    # start embedded ones of its own under its var/.
    offline = {**os.environ, "DATABASE_URL": "postgres://unused@127.0.0.1:9/unused", "REDIS_URL": "redis://127.0.0.1:9/0"}
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "ko", "-l", "zh_Hans", "--no-obsolete"],
                   cwd=copy, env=offline, check=True, capture_output=True)
    assert not (copy / "var" / "pg").exists() and not (copy / "var" / "redis.sock").exists()
    return copy


def _msgids(catalogue: str) -> list[str]:
    """The msgid of each entry, continuation lines joined (the header's is empty)."""
    msgids, current = [], None
    for line in catalogue.splitlines():
        if line.startswith("msgid "):
            current = [line[len("msgid "):].strip().strip('"')]
        elif current is not None and line.startswith('"'):
            current.append(line.strip().strip('"'))
        elif current is not None:
            msgids.append("".join(current))
            current = None
    if current is not None:
        msgids.append("".join(current))
    return msgids


@pytest.mark.parametrize("lang", ["ko", "zh_Hans"])
def test_every_interface_string_is_translated(extracted, lang):
    catalogue = extracted / "locale" / lang / "LC_MESSAGES" / "django.po"
    untranslated = subprocess.run(["msgattrib", "--untranslated", "--no-obsolete", str(catalogue)],
                                  check=True, capture_output=True, text=True).stdout
    missing = [msgid for msgid in _msgids(untranslated) if msgid]
    assert not missing, f"{len(missing)} strings without a {lang} translation:\n" + "\n".join(missing)


@pytest.mark.parametrize("lang", ["ko", "zh_Hans"])
def test_the_committed_catalogue_compiles_without_errors(lang):
    catalogue = ROOT / "locale" / lang / "LC_MESSAGES" / "django.po"
    checked = subprocess.run(["msgfmt", "--check-format", "--check-domain", "-o", "/dev/null", str(catalogue)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
