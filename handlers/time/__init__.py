"""Clinic time: the clinic's time zone and quiet hours."""
