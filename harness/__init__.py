"""ekswin harness: cluster backends, process supervision, Windows node emulation, CLI."""
