"""Between-visit reminders and appointment nudges (arrives with the scheduler issue)."""
