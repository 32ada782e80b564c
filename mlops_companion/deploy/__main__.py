"""``python -m mlops_companion.deploy generate deploy/`` or ``... serve`` (see :func:`main`)."""
from mlops_companion.deploy import main

main()
