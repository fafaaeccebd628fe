"""Apache Kafka itself, as the reference: installed from Maven Central, run on loopback.

``install`` resolves a pinned Kafka release (server, tools, Java client) with
Maven into the git-ignored ``compat/kafka/.cache``; ``cluster`` starts real
KRaft Kafka nodes from generated ``server.properties``; ``java`` compiles and
runs our small Java driver of the Kafka client (``compat/kafka/java``).
"""
