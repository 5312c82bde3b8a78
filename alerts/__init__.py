"""alarm judgement: rules, the live engine, the offline replay, technical alarms."""
