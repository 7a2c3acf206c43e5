"""The program that runs inside the backup container.

It installs the SSH key for the GitHub Enterprise appliance, renders backup-utils' config,
runs backup-utils' ``ghe-backup`` on a cron schedule (one run at a time, across processes),
cleans up what interrupted runs leave behind and reports health and metrics over HTTP.
``entrypoint.run_service`` ties the steps together; ``cli`` is the command line.
"""
