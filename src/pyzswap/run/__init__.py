"""The memory-pressure harness."""
