"""pilotshare: backend for shared pilot-scale production lines and instrument platforms.


Each package below declares in its ``__init__`` what it holds and, in ``__all__``, what other
packages may import from it: the names it re-exports and its public submodules
(``tests/unit/test_public_surfaces.py``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
