"""Build tooling for the book: not part of the reader-facing package.

Quarto cannot be installed everywhere the book is built, so this package does what
Quarto's Jupyter engine would do, faithfully enough that a chapter failing under
``quarto render`` fails here too, with the file and line:

- :mod:`booktools.qmd`: parse ``.qmd`` files (front matter, ``{python}`` cells with their
  ``#|`` options, inline expressions, ``{{< include >}}`` shortcodes) and ``_quarto.yml``
  with its profiles.
- :mod:`booktools.execute`: run each chapter in a fresh ``python3`` kernel, in parallel.
- :mod:`booktools.checks`: static checks of files, labels, cross-references and cell options.
- :mod:`booktools.preview`: a preview website built with pandoc and Jinja2.
- :mod:`booktools.notebooks`: the exercise and solution notebooks.

Run ``python -m booktools --help`` for the command line.
"""
