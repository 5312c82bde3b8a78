"""Session review for clinicians: the list, one session's story, summaries, exports and the printable report."""
