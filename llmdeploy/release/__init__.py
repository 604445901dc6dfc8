"""Releases: a new version into the idle slot, gated promotion step by step, rollback.

Pure pieces (gates, the promotion record's shape, the step planner in llmdeploy/plan/traffic.py)
are kept apart from those that touch files (config_edit, record) and clouds (aws.py, observers).
"""
