"""Due deliveries out of the store, through the adapters, results back in: dispatcher, retry policy, daemon."""
