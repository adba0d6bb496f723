"""The inbound pipeline and its steps.

Intents, requests, buttons, onboarding, hand-off and the answer.
"""
