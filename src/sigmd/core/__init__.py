"""The pure core: standard library only; no clock, files, environment or network."""
