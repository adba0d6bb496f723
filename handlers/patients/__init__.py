"""A patient's records and settings.

Preferences, language, tips, appointments, pain scores, privacy, linked numbers.
"""
