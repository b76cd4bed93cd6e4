"""A small fake of the Azure Retail Prices API on loopback (``GET /api/retail/prices``).

It answers pages of ``Items`` with ``NextPageLink`` (``$skip``, null on the last page) in the envelope
``domain.md`` §8 lists (``BillingCurrency``, ``CustomerEntityId``, ``CustomerEntityType``, ``Items``,
``NextPageLink``, ``Count``). Items are copies of a published Learn sample item
(``tests/data/published/retail_prices``) with the region, size, names, type and price changed: see
``meter``. It filters on ``armRegionName`` and ``armSkuName`` terms of ``$filter`` and ignores
``priceType``, as a published capture shows reservation rows returned despite ``priceType eq
'Consumption'``, so the client's own type check is exercised. It records every request (to show that no
``Authorization`` header is ever sent) and can answer 429 or an error status.

``items`` builds price items, ``server`` is ``FakePrices`` and ``__main__`` the command the demo starts
(``python -m devtools.fake_prices``).
"""

from __future__ import annotations

from devtools.fake_prices.items import PUBLISHED_PRICES, d2as_v5_uksouth_gbp, meter, published_item
from devtools.fake_prices.server import FakePrices

__all__ = ["PUBLISHED_PRICES", "FakePrices", "d2as_v5_uksouth_gbp", "meter", "published_item"]
