"""The delivery pipeline: config -> test -> image -> push -> deploy."""
