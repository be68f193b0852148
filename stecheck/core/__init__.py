"""The mathematics: quantizer, input distributions, exact references, accumulators, compiled kernels."""
