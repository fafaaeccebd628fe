"""Kafka's command-line tools, run through their main classes (what ``bin/kafka-*.sh`` run).

    run_tool("kafka-topics", "--bootstrap-server", b, "--list")  # CompletedProcess

Each ``run_tool`` call is one JVM with the installed classpath and a log4j2 config that
sends the tool's own logging (WARN and up) to stderr, as Kafka's
``tools-log4j2.yaml`` does. ``run_in_driver`` runs the tool inside the JVM of our Java driver instead
(much cheaper; what the tests use). ``check=True`` (the default) raises
:class:`ToolFailed` with the command, exit code and output on a non-zero exit.
"""

from __future__ import annotations

import subprocess

from compat.kafka import install
from compat.kafka.cluster import java_path
from compat.kafka.java_driver import CLIENT_LOG4J2, JavaDriver

MAIN_CLASSES = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
}
TOOL_TIMEOUT_S = 60.0


class ToolFailed(AssertionError):
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(done.args[-8:])}: exit code {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        self.done = done


def _log4j2_config() -> str:
    path = install.install_dir() / "tools-log4j2.properties"
    if not path.is_file():
        path.write_text(CLIENT_LOG4J2)
    return str(path)


def tool_command(tool: str, *args: str) -> list[str]:
    return [
        java_path(),
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dlog4j2.configurationFile={_log4j2_config()}",
        "-cp",
        install.classpath(),
        MAIN_CLASSES[tool],
        *args,
    ]


def run_in_driver(
    driver: JavaDriver, tool: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The same, inside the Java driver's JVM (``tool.run``): no JVM start per call.

    The tool's ``Exit.exit`` is intercepted and its stdout/stderr captured, so
    the result is what the command line would have shown.
    """
    result = driver.call("tool.run", main=MAIN_CLASSES[tool], args=list(args))
    done = subprocess.CompletedProcess(
        [tool, *args], result["code"], result["stdout"], result["stderr"]
    )
    if check and done.returncode != 0:
        raise ToolFailed(done)
    return done


def run_tool(
    tool: str, *args: str, check: bool = True, timeout_s: float = TOOL_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        tool_command(tool, *args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        raise ToolFailed(done)
    return done
