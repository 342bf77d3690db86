"""Energy estimates of SNNs: firing rates, synaptic operations, MACs and picojoules per layer."""
