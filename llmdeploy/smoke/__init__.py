"""`llmdeploy smoke`: prove that an endpoint serves the configured model and streams tokens.

`check.check_endpoint` is the whole check for one URL (also for promotion to call on a new slot);
it speaks only HTTP and imports no cloud SDK.
"""
