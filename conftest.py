"""Imported by pytest before it collects anything (the repository root's conftest).

The package is imported here, before pytest collects the doctests of its modules: pytest's
``--import-mode=importlib`` (pyproject.toml) imports a module it has not seen itself and binds
it as an attribute of its package, which hides the package's function of the same name
(``optim.describe``, ``problems.catalogue``) from every test that runs after it in that
process. A module already imported is taken from ``sys.modules`` as it is.
"""

import descentlab.optim  # noqa: F401
import descentlab.problems  # noqa: F401
