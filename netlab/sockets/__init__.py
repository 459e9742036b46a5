"""netlab.sockets."""
