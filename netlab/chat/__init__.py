"""netlab.chat."""
