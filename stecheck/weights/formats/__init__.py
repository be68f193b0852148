"""Weight-file loaders, one module per file format; each yields TensorRef objects."""
