"""netlab.stream."""
