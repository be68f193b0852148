"""The simulation engine: grid -> seeded chunks -> accumulators -> records, and resumable runs."""
