"""Service modules: the contract (``contract.py``), the registry of installed modules (``registry.py``)
and one package per built-in module, each registered through the ``bippop.modules`` entry points."""
