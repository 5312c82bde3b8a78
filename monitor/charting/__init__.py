"""Charting to the EHR: the draft chart, the nurse's validation, the outbox and its senders."""
