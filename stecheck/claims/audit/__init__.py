"""The audit of the argument "Lemma Two": rows and rules, the steps, the positive rows, the run."""
