"""Time stamps for the audit log."""
