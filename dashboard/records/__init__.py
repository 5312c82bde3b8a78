"""The printed records of a session and a patient: the infusion record, the REMS monitoring form, the course."""
