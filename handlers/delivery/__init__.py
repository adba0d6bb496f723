"""The sending contract.

Consent and the send-time check, typed send outcomes, direct sends.
"""
