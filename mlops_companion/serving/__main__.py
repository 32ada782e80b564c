"""``python -m mlops_companion.serving``: serve an artefact in the foreground."""
from mlops_companion.serving._run import main

main()
