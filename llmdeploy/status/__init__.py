"""Live state of the deployed fleets, read from each cloud's API into one cloud-neutral record.

`model.SlotStatus` is the record; `gcp` and `azure` read it with the clouds' SDKs, which they import
themselves so that the rest of llmdeploy never loads them.
"""
