"""Link shaping: rate, delay, jitter, loss and queue on an interface, with the back ends this kernel has."""
