"""The command-line interface: thin commands over the library. Nothing under netlab imports this."""
