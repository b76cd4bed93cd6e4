"""A loopback Event Grid custom topic: takes CloudEvents batches as the service does, records them."""

from devtools.fake_topic.server import FakeTopic

__all__ = ["FakeTopic"]
