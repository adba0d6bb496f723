"""The SMS channel through Twilio: signed webhooks in, the REST API out."""
