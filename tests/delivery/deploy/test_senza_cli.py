"""Picking the line a person needs out of senza's output (as captured from senza 2.1.143)."""

from __future__ import annotations

from ghe_backup.delivery.deploy.deployers.senza_cli import first_error_line

CRASH = """Generating Cloud Formation template.. OK
Creating Cloud Formation stack ghe-backup-bad1.. Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/senza/cli.py", line 751, in create
    cf.create_stack(**cfjson)
botocore.exceptions.ClientError: An error occurred (NoSuchEntity) when calling the CreateStack operation: Role app-ghe-backup-gone not found

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/senza/error_handling.py", line 120, in __call__
TypeError: format_exception() got an unexpected keyword argument 'etype'
"""


def test_the_exception_message_not_the_crash_handler():
    assert first_error_line(CRASH) == (
        "ClientError: An error occurred (NoSuchEntity) when calling the CreateStack operation: Role app-ghe-backup-gone not found"
    )


def test_a_plain_error_line():
    assert first_error_line('Generating Cloud Formation template.. \nError: Security Group "x" does not exist.\n') == (
        'Error: Security Group "x" does not exist.'
    )


def test_empty_output():
    assert first_error_line("") == "no output"
