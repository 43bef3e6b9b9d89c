"""jaxnn benchmarks: ``python -m benchmarks [--quick] [--models a,b] [--out DIR]``."""
