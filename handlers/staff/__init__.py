"""Staff tools.

Roles, commands declared once, tickets, alerts for the staff group, broadcasts, tags, stats.
"""
