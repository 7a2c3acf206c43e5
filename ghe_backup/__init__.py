"""ghe-backup: GitHub Enterprise backups on AWS and the pipeline that delivers them."""

__version__ = "0.1.0"
