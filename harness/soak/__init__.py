"""`make soak`: seeded pod churn across several nodes while faults fire at random; no
invariant may break, and every fault must be recovered from (README: Reliability)."""
