"""The request layer on the router VMs: the hold-at-zero gate, admission and membership over vllm-router."""
