from datetime import datetime


def stamp() -> str:
    """The current time as the audit log writes it: UTC, to the second."""
    return datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def day() -> str:
    return stamp()[:10]
