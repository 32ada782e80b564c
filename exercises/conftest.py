# The percent-format sources are notebooks in disguise, not modules: importing them (as
# --doctest-modules would) runs every solution. nbval tests the generated notebooks instead.
collect_ignore_glob = ["source/*.py"]
