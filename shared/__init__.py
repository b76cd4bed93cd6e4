"""VM billing ledger: domain logic shared by the function app, the CLI and the tests.

Nothing in this package imports ``azure.functions``; the triggers in ``function_app.py`` translate
bindings into the plain calls offered here.
"""
