"""Mail configuration: EMAIL_URL, and .eml files under var/mail/ with nothing configured."""

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import _email_settings
from digest import mail, sending


def test_email_url_schemes():
    assert _email_settings("smtp+tls://me%40example.org:p%40ss@mail.example.org") == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "mail.example.org", "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "me@example.org", "EMAIL_HOST_PASSWORD": "p@ss", "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False,
    }
    smtps = _email_settings("smtps://u:p@mail.example.org")
    assert (smtps["EMAIL_PORT"], smtps["EMAIL_USE_SSL"], smtps["EMAIL_USE_TLS"]) == (465, True, False)
    assert _email_settings("smtp://127.0.0.1:2525")["EMAIL_PORT"] == 2525
    assert _email_settings("file:///srv/mail") == {"EMAIL_BACKEND": "digest.mail.EmlFileBackend", "EMAIL_FILE_PATH": "/srv/mail"}
    with pytest.raises(ImproperlyConfigured, match="unknown scheme"):
        _email_settings("http://mail.example.org")


def test_nothing_configured_writes_eml_files_under_var_mail():
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.EMAIL_BACKEND, s.EMAIL_FILE_PATH, str(s.VAR_DIR)]))")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
                         cwd=str(Path(__file__).resolve().parents[2]), capture_output=True, text=True, check=True)
    backend, path, var_dir = json.loads(out.stdout.strip().splitlines()[-1])
    assert backend == "digest.mail.EmlFileBackend"
    assert path == os.path.join(var_dir, "mail")


@pytest.mark.django_db
def test_eml_backend_writes_one_openable_file_per_message(settings, tmp_path, published_issue, ko_subscriber, en_subscriber):
    settings.EMAIL_BACKEND = "digest.mail.EmlFileBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    report = sending.send_issue(published_issue)
    assert report.sent == 2
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    messages = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert sorted(m["To"] for m in messages) == [en_subscriber.email, ko_subscriber.email]
    for m in messages:
        assert m.get_body(preferencelist=("html",)) is not None and m.get_body(preferencelist=("plain",)) is not None
    assert not list((tmp_path / "mail").glob(".*"))  # no temporary files left behind
    # Each holds its subscriber's signed links: only the owner may read it, under any umask.
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    assert (tmp_path / "mail").stat().st_mode & 0o777 == 0o700


def test_mail_error_kinds_from_smtp_replies(smtp_server, settings, db):
    from django.core.mail import EmailMessage

    smtp_server.refuse["gone@example.org"] = "550 5.1.1 no such user"
    smtp_server.refuse["busy@example.org"] = "451 4.3.0 try later"
    connection = mail.open_connection()
    try:
        with pytest.raises(mail.MailError) as gone:
            mail.send(EmailMessage("s", "b", "a@example.org", ["gone@example.org"]), connection=connection)
        with pytest.raises(mail.MailError) as busy:
            mail.send(EmailMessage("s", "b", "a@example.org", ["busy@example.org"]), connection=connection)
        mail.send(EmailMessage("s", "b", "a@example.org", ["fine@example.org"]), connection=connection)
    finally:
        mail.close_quietly(connection)
    assert (gone.value.permanent, gone.value.bad_address, gone.value.connection_lost) == (True, True, False)
    assert (busy.value.permanent, busy.value.bad_address, busy.value.connection_lost) == (False, False, False)
    assert smtp_server.counts() == {"fine@example.org": 1}
