"""``python -m mlops_reference.serving``: serve an artefact in the foreground."""
from mlops_reference.serving._run import main

main()
