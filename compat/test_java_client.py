"""The Apache Kafka Java client (4.1.2) against the broker: the shared suite.

The adapter is ``compat/kafka/java_client.py`` (one JVM for the module, our
``KafkaClientDriver.java``); this gives the ``java`` column of the matrix.
``compat/test_java_admin.py`` and ``compat/test_java_groups.py`` cover what
the suite does not: configs, partitions, records, cluster, group admin,
assignors and static membership.
"""

from __future__ import annotations

from typing import ClassVar

from compat.kafka.java_client import JAVA, java_driver
from compat.suite import Client, ClientSuite

__all__ = ["java_driver"]  # the module's JVM (an autouse fixture)


class TestJava(ClientSuite):
    CLIENT = "java"
    client: ClassVar[Client] = JAVA
