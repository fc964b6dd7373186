"""Measurements: exercise 4's timings (:mod:`.bench`), the machine's limits
(:mod:`.roofline`), threads and foreign load (:mod:`.machine`) and what ran where
(:mod:`.provenance`)."""
