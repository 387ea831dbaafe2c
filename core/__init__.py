"""The lowest layer: database handle, clock, errors, configuration and the fast-SQL module."""
