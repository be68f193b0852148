"""Claims checked against records: the audit of the argument, bounds files, the phase map."""
