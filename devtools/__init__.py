"""What the project's tools share: the tests, the benchmarks, ``make demo`` and ``make serve``.

Loopback fakes of the Azure APIs the app calls (``fake_arm``, ``fake_prices``), the event wire builders
(``events``) and the worker's decoding of them (``worker``), a real Azurite (``azurite``), the
Functions host's stand-ins (``function_host`` for HTTP and Event Grid, ``queue_host`` for the queue
trigger), the counting and fault-injecting storage proxy (``faultproxy``) and the list of files a
deployment package holds (``package``).

Never shipped (``.funcignore``) and never imported by ``shared/`` (the import contracts in
pyproject.toml); it imports neither ``tests``, ``scripts`` nor ``bench``.
"""
