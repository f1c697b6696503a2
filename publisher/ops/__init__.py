"""Running the service: incidents and alerts, systemd notification, logging and secret redaction."""
