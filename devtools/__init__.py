"""What the project's tools share: the tests, the benchmarks, ``make demo`` and ``make serve``.

Loopback fakes of the Azure APIs the app calls (``fake_arm``, ``fake_prices``, on ``loopback``'s server,
answering with the shapes ``published`` names), the event wire builders (``events``) and what the
worker makes of them (``worker``), a real Azurite (``azurite``), the Functions host's stand-ins
(``function_host`` for HTTP and Event Grid, ``queue_host`` for the queue trigger), the counting and
fault-injecting storage proxy (``faultproxy``), the files a deployment package holds (``package``) and
the trimming of Bicep type definitions for the offline checks (``trim_bicep_types``).

Never shipped (``.funcignore``) and never imported by ``shared/`` (the import contracts in
pyproject.toml); it imports neither ``tests``, ``scripts`` nor ``bench``.
"""
