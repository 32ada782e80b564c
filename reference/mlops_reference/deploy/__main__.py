"""``python -m mlops_reference.deploy generate deploy/`` or ``... serve`` (see :func:`main`)."""
from mlops_reference.deploy import main

main()
