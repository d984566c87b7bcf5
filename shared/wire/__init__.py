"""What crosses between processes: the claim-check blob, the task message that points at
it, the broker consumer, and the embedded service's calls and state file."""
