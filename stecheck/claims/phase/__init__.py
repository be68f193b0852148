"""Where the STE claim holds: the phase map, its rule of thumb, and the run with spot checks."""
