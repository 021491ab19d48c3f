"""The operator console: the browser screens of the supervision centre."""
