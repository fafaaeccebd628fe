// The Apache Kafka Java client, driven from Python (compat/kafka/java_driver.py).
//
// One request per line on stdin, one response per line on stdout, both JSON:
//   {"op": "producer.send", "id": "p1", ...}  ->  {"ok": true, "result": ...}
//                                             or {"ok": false, "error": "TOPIC_ALREADY_EXISTS",
//                                                 "detail": "...Exception: ..."}
// "error" is the Kafka error name of the exception (Errors.forException), or
// null when the failure is not a Kafka error. Producers, consumers and admin
// clients live between requests under the caller's "id", so that a test can
// act between two calls of the same client (restart the broker, ...). Bytes
// travel as base64; null stays null. Nothing here works around the client:
// every operation is the client's public API.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KafkaClientDriver {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory F = JsonNodeFactory.instance;
  private static final long WAIT_S = 30;

  private final Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
  private final Map<String, KafkaConsumer<byte[], byte[]>> consumers = new HashMap<>();
  private final Map<String, List<String>> rebalances = new HashMap<>();
  private final Map<String, Admin> admins = new HashMap<>();

  // System.out and System.err are switchable: Kafka's tools run in this JVM
  // ("tool.run") with their output captured, and Scala's Console keeps the
  // stream it saw first, so the switch is installed before anything prints.
  private static final Switch OUT = new Switch(System.err);
  private static final Switch ERR = new Switch(System.err);

  private static final class Switch extends java.io.OutputStream {
    private java.io.OutputStream target;

    Switch(java.io.OutputStream target) {
      this.target = target;
    }

    synchronized java.io.OutputStream swap(java.io.OutputStream next) {
      java.io.OutputStream previous = target;
      target = next;
      return previous;
    }

    @Override
    public synchronized void write(int b) throws java.io.IOException {
      target.write(b);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) throws java.io.IOException {
      target.write(b, off, len);
    }

    @Override
    public synchronized void flush() throws java.io.IOException {
      target.flush();
    }
  }

  /** Thrown by the exit procedure a tool calls instead of System.exit. */
  private static final class ToolExit extends RuntimeException {
    final int code;

    ToolExit(int code) {
      super("exit " + code, null, false, false);
      this.code = code;
    }
  }

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out),
        true, StandardCharsets.UTF_8);
    System.setOut(new PrintStream(OUT, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(ERR, true, StandardCharsets.UTF_8));
    org.apache.kafka.common.utils.Exit.setExitProcedure(KafkaClientDriver::toolExit);
    org.apache.kafka.common.utils.Exit.setHaltProcedure(KafkaClientDriver::toolExit);
    KafkaClientDriver driver = new KafkaClientDriver();
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    out.println("{\"ok\": true, \"result\": \"ready\"}");
    String line;
    while ((line = in.readLine()) != null) {
      ObjectNode response = F.objectNode();
      try {
        JsonNode request = JSON.readTree(line);
        response.put("ok", true);
        response.set("result", driver.handle(request));
      } catch (Throwable t) {
        Throwable cause = unwrap(t);
        response.removeAll();
        response.put("ok", false);
        if (cause instanceof ApiException) {
          response.put("error", Errors.forException(cause).name());
        } else {
          response.putNull("error");
        }
        response.put("detail", cause.getClass().getName() + ": " + cause.getMessage());
      }
      out.println(JSON.writeValueAsString(response));
    }
    driver.closeAll();
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof ExecutionException || t instanceof org.apache.kafka.common.KafkaException
            && !(t instanceof ApiException) && t.getCause() instanceof ApiException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private JsonNode handle(JsonNode r) throws Exception {
    String op = r.get("op").asText();
    String id = r.path("id").asText("");
    switch (op) {
      case "producer.open":
        producers.put(id, new KafkaProducer<>(props(r.get("config")),
            new ByteArraySerializer(), new ByteArraySerializer()));
        return F.nullNode();
      case "producer.send":
        return send(need(producers, id), r);
      case "producer.partitions": {
        ArrayNode out = F.arrayNode();
        for (org.apache.kafka.common.PartitionInfo info :
            need(producers, id).partitionsFor(r.get("topic").asText())) {
          out.add(F.arrayNode().add(info.partition())
              .add(info.leader() == null ? -1 : info.leader().id()));
        }
        return out;
      }
      case "producer.close":
        producers.remove(id).close(Duration.ofSeconds(10));
        return F.nullNode();
      case "consumer.open":
        consumers.put(id, new KafkaConsumer<>(props(r.get("config")),
            new ByteArrayDeserializer(), new ByteArrayDeserializer()));
        return F.nullNode();
      case "consumer.assign": {
        KafkaConsumer<byte[], byte[]> c = need(consumers, id);
        String topic = r.get("topic").asText();
        List<TopicPartition> tps = new ArrayList<>();
        for (JsonNode p : r.get("partitions")) {
          tps.add(new TopicPartition(topic, p.asInt()));
        }
        c.assign(tps);
        Iterator<Map.Entry<String, JsonNode>> seek = r.path("seek").fields();
        while (seek.hasNext()) {
          Map.Entry<String, JsonNode> e = seek.next();
          c.seek(new TopicPartition(topic, Integer.parseInt(e.getKey())), e.getValue().asLong());
        }
        return F.nullNode();
      }
      case "consumer.subscribe": {
        List<String> topics = new ArrayList<>();
        for (JsonNode t : r.get("topics")) {
          topics.add(t.asText());
        }
        List<String> events = new ArrayList<>();
        rebalances.put(id, events);
        need(consumers, id).subscribe(topics, new ConsumerRebalanceListener() {
          @Override
          public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            events.add("revoked " + partitions.size());
          }

          @Override
          public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            events.add("assigned " + partitions.size());
          }
        });
        return F.nullNode();
      }
      case "consumer.poll": {
        ArrayNode out = F.arrayNode();
        for (ConsumerRecord<byte[], byte[]> rec :
            need(consumers, id).poll(Duration.ofMillis(r.get("ms").asLong()))) {
          out.add(record(rec));
        }
        return out;
      }
      case "consumer.commit":
        need(consumers, id).commitSync(Duration.ofSeconds(WAIT_S));
        return F.nullNode();
      case "consumer.assignment": {
        ArrayNode out = F.arrayNode();
        for (TopicPartition tp : need(consumers, id).assignment()) {
          out.add(F.arrayNode().add(tp.topic()).add(tp.partition()));
        }
        return out;
      }
      case "consumer.rebalances": {
        ArrayNode out = F.arrayNode();
        for (String e : rebalances.getOrDefault(id, List.of())) {
          out.add(e);
        }
        return out;
      }
      case "consumer.group": {
        org.apache.kafka.clients.consumer.ConsumerGroupMetadata m =
            need(consumers, id).groupMetadata();
        ObjectNode out = F.objectNode();
        out.put("group_id", m.groupId());
        out.put("generation_id", m.generationId());
        out.put("member_id", m.memberId());
        out.put("group_instance_id", m.groupInstanceId().orElse(null));
        return out;
      }
      case "consumer.beginning":
        return offsets(need(consumers, id).beginningOffsets(partitions(r),
            Duration.ofSeconds(WAIT_S)));
      case "consumer.end":
        return offsets(need(consumers, id).endOffsets(partitions(r), Duration.ofSeconds(WAIT_S)));
      case "consumer.offsets_for_times": {
        String topic = r.get("topic").asText();
        Map<TopicPartition, Long> query = new HashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = r.get("timestamps").fields();
        while (it.hasNext()) {
          Map.Entry<String, JsonNode> e = it.next();
          query.put(new TopicPartition(topic, Integer.parseInt(e.getKey())),
              e.getValue().asLong());
        }
        ObjectNode out = F.objectNode();
        for (Map.Entry<TopicPartition, OffsetAndTimestamp> e : need(consumers, id)
            .offsetsForTimes(query, Duration.ofSeconds(WAIT_S)).entrySet()) {
          String key = Integer.toString(e.getKey().partition());
          if (e.getValue() == null) {
            out.putNull(key);
          } else {
            out.put(key, e.getValue().offset());
          }
        }
        return out;
      }
      case "consumer.close":
        consumers.remove(id).close(Duration.ofSeconds(10));
        rebalances.remove(id);
        return F.nullNode();
      case "tool.run":
        return runTool(r.get("main").asText(), list(r.get("args")).toArray(new String[0]));
      case "admin.open":
        admins.put(id, Admin.create(props(r.get("config"))));
        return F.nullNode();
      case "admin.close":
        admins.remove(id).close(Duration.ofSeconds(10));
        return F.nullNode();
      default:
        if (op.startsWith("admin.")) {
          return admin(need(admins, id), op.substring(6), r);
        }
        throw new IllegalArgumentException("unknown op " + op);
    }
  }

  private JsonNode admin(Admin a, String op, JsonNode r) throws Exception {
    switch (op) {
      case "create_topics": {
        List<NewTopic> topics = new ArrayList<>();
        for (JsonNode t : r.get("topics")) {
          NewTopic nt = new NewTopic(t.get("name").asText(), t.get("partitions").asInt(),
              (short) t.get("replication_factor").asInt());
          nt.configs(strings(t.path("configs")));
          topics.add(nt);
        }
        return errors(a.createTopics(topics).values());
      }
      case "delete_topics":
        return errors(a.deleteTopics(list(r.get("topics"))).topicNameValues());
      case "list_topics": {
        ArrayNode out = F.arrayNode();
        for (String name : a.listTopics().names().get(WAIT_S, TimeUnit.SECONDS)) {
          out.add(name);
        }
        return out;
      }
      case "describe_topics": {
        ObjectNode out = F.objectNode();
        for (Map.Entry<String, TopicDescription> e : a.describeTopics(
            list(r.get("topics"))).allTopicNames().get(WAIT_S, TimeUnit.SECONDS)
            .entrySet()) {
          ArrayNode parts = F.arrayNode();
          for (TopicPartitionInfo p : e.getValue().partitions()) {
            ObjectNode pn = F.objectNode();
            pn.put("partition", p.partition());
            pn.put("leader", p.leader() == null ? -1 : p.leader().id());
            pn.set("replicas", nodeIds(p.replicas()));
            pn.set("isr", nodeIds(p.isr()));
            parts.add(pn);
          }
          ObjectNode tn = F.objectNode();
          tn.put("internal", e.getValue().isInternal());
          tn.put("topic_id", e.getValue().topicId().toString());
          tn.set("partitions", parts);
          out.set(e.getKey(), tn);
        }
        return out;
      }
      case "describe_cluster": {
        DescribeClusterResult c = a.describeCluster();
        ObjectNode out = F.objectNode();
        out.put("cluster_id", c.clusterId().get(WAIT_S, TimeUnit.SECONDS));
        Node controller = c.controller().get(WAIT_S, TimeUnit.SECONDS);
        out.put("controller", controller == null ? -1 : controller.id());
        ArrayNode nodes = F.arrayNode();
        for (Node n : c.nodes().get(WAIT_S, TimeUnit.SECONDS)) {
          nodes.add(F.arrayNode().add(n.id()).add(n.host()).add(n.port()));
        }
        out.set("nodes", nodes);
        return out;
      }
      case "describe_configs": {
        ConfigResource res = resource(r);
        Config config = a.describeConfigs(List.of(res)).all().get(WAIT_S, TimeUnit.SECONDS)
            .get(res);
        ObjectNode out = F.objectNode();
        for (ConfigEntry e : config.entries()) {
          ObjectNode en = F.objectNode();
          en.put("value", e.value());
          en.put("source", e.source().name());
          en.put("read_only", e.isReadOnly());
          en.put("sensitive", e.isSensitive());
          out.set(e.name(), en);
        }
        return out;
      }
      case "alter_configs": {
        List<AlterConfigOp> ops = new ArrayList<>();
        for (JsonNode o : r.get("ops")) {
          ops.add(new AlterConfigOp(new ConfigEntry(o.get(0).asText(),
              o.get(1).isNull() ? null : o.get(1).asText()),
              AlterConfigOp.OpType.valueOf(o.get(2).asText())));
        }
        a.incrementalAlterConfigs(Map.of(resource(r), ops)).all().get(WAIT_S, TimeUnit.SECONDS);
        return F.nullNode();
      }
      case "create_partitions": {
        Map<String, NewPartitions> req = new HashMap<>();
        req.put(r.get("topic").asText(), NewPartitions.increaseTo(r.get("count").asInt()));
        return errors(a.createPartitions(req).values());
      }
      case "delete_records": {
        String topic = r.get("topic").asText();
        Map<TopicPartition, RecordsToDelete> req = new HashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = r.get("before").fields();
        while (it.hasNext()) {
          Map.Entry<String, JsonNode> e = it.next();
          req.put(new TopicPartition(topic, Integer.parseInt(e.getKey())),
              RecordsToDelete.beforeOffset(e.getValue().asLong()));
        }
        ObjectNode out = F.objectNode();
        for (Map.Entry<TopicPartition, KafkaFuture<org.apache.kafka.clients.admin.DeletedRecords>>
            e : a.deleteRecords(req).lowWatermarks().entrySet()) {
          out.put(Integer.toString(e.getKey().partition()),
              e.getValue().get(WAIT_S, TimeUnit.SECONDS).lowWatermark());
        }
        return out;
      }
      case "list_offsets": {
        String spec = r.get("spec").asText();
        OffsetSpec os = spec.equals("earliest") ? OffsetSpec.earliest()
            : spec.equals("latest") ? OffsetSpec.latest()
            : spec.equals("max-timestamp") ? OffsetSpec.maxTimestamp()
            : OffsetSpec.forTimestamp(Long.parseLong(spec));
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (TopicPartition tp : partitions(r)) {
          req.put(tp, os);
        }
        ObjectNode out = F.objectNode();
        for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e :
            a.listOffsets(req).all().get(WAIT_S, TimeUnit.SECONDS).entrySet()) {
          out.set(Integer.toString(e.getKey().partition()), F.arrayNode()
              .add(e.getValue().offset()).add(e.getValue().timestamp())
              .add(e.getValue().leaderEpoch().orElse(-1)));
        }
        return out;
      }
      case "list_groups": {
        ArrayNode out = F.arrayNode();
        for (GroupListing g : a.listGroups().all().get(WAIT_S, TimeUnit.SECONDS)) {
          ObjectNode gn = F.objectNode();
          gn.put("group_id", g.groupId());
          gn.put("type", g.type().map(Enum::name).orElse(null));
          gn.put("protocol", g.protocol());
          gn.put("state", g.groupState().map(Enum::name).orElse(null));
          out.add(gn);
        }
        return out;
      }
      case "describe_groups": {
        ObjectNode out = F.objectNode();
        for (Map.Entry<String, ConsumerGroupDescription> e : a.describeConsumerGroups(
            list(r.get("groups"))).all().get(WAIT_S, TimeUnit.SECONDS).entrySet()) {
          ConsumerGroupDescription d = e.getValue();
          ObjectNode gn = F.objectNode();
          gn.put("state", d.groupState().name());
          gn.put("type", d.type().name());
          gn.put("assignor", d.partitionAssignor());
          gn.put("simple", d.isSimpleConsumerGroup());
          gn.put("coordinator", d.coordinator() == null ? -1 : d.coordinator().id());
          ArrayNode members = F.arrayNode();
          for (MemberDescription m : d.members()) {
            ObjectNode mn = F.objectNode();
            mn.put("member_id", m.consumerId());
            mn.put("group_instance_id", m.groupInstanceId().orElse(null));
            mn.put("client_id", m.clientId());
            mn.put("host", m.host());
            ArrayNode assigned = F.arrayNode();
            for (TopicPartition tp : m.assignment().topicPartitions()) {
              assigned.add(F.arrayNode().add(tp.topic()).add(tp.partition()));
            }
            mn.set("assignment", assigned);
            members.add(mn);
          }
          gn.set("members", members);
          out.set(e.getKey(), gn);
        }
        return out;
      }
      case "list_group_offsets": {
        ObjectNode out = F.objectNode();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : a.listConsumerGroupOffsets(
            r.get("group").asText()).partitionsToOffsetAndMetadata()
            .get(WAIT_S, TimeUnit.SECONDS).entrySet()) {
          out.put(e.getKey().topic() + ":" + e.getKey().partition(),
              e.getValue() == null ? -1 : e.getValue().offset());
        }
        return out;
      }
      case "alter_group_offsets": {
        String topic = r.get("topic").asText();
        Map<TopicPartition, OffsetAndMetadata> req = new HashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = r.get("offsets").fields();
        while (it.hasNext()) {
          Map.Entry<String, JsonNode> e = it.next();
          req.put(new TopicPartition(topic, Integer.parseInt(e.getKey())),
              new OffsetAndMetadata(e.getValue().asLong()));
        }
        a.alterConsumerGroupOffsets(r.get("group").asText(), req).all()
            .get(WAIT_S, TimeUnit.SECONDS);
        return F.nullNode();
      }
      case "delete_groups":
        return errors(a.deleteConsumerGroups(list(r.get("groups"))).deletedGroups());
      default:
        throw new IllegalArgumentException("unknown admin op " + op);
    }
  }

  // The tool being run: its output, and where that output stood when it first
  // called Exit.exit. A tool may catch the ToolExit thrown there (some call
  // exit inside a catch-all); the first exit decides, and what the tool
  // printed after it (about our exception) is dropped.
  private static java.io.ByteArrayOutputStream toolOut;
  private static java.io.ByteArrayOutputStream toolErr;
  private static int[] firstExit;

  private static void toolExit(int code, String message) {
    System.out.flush();
    System.err.flush();
    if (firstExit == null && toolOut != null) {
      if (message != null && !message.isEmpty()) {
        System.err.println(message);
      }
      firstExit = new int[] {code, toolOut.size(), toolErr.size()};
    }
    throw new ToolExit(code);
  }

  /** Runs a tool's main class here, capturing what it prints; its exit code. */
  private static JsonNode runTool(String mainClass, String[] args) throws Exception {
    toolOut = new java.io.ByteArrayOutputStream();
    toolErr = new java.io.ByteArrayOutputStream();
    firstExit = null;
    java.io.OutputStream previousOut = OUT.swap(toolOut);
    java.io.OutputStream previousErr = ERR.swap(toolErr);
    int code = 0;
    try {
      Class.forName(mainClass).getMethod("main", String[].class).invoke(null, (Object) args);
    } catch (java.lang.reflect.InvocationTargetException e) {
      if (firstExit == null) {
        e.getCause().printStackTrace(System.err);
        code = 1;
      }
    } finally {
      System.out.flush();
      System.err.flush();
      OUT.swap(previousOut);
      ERR.swap(previousErr);
    }
    byte[] out = toolOut.toByteArray();
    byte[] err = toolErr.toByteArray();
    int outEnd = out.length;
    int errEnd = err.length;
    if (firstExit != null) {
      code = firstExit[0];
      outEnd = firstExit[1];
      errEnd = firstExit[2];
    }
    toolOut = null;
    toolErr = null;
    ObjectNode result = F.objectNode();
    result.put("code", code);
    result.put("stdout", new String(out, 0, outEnd, StandardCharsets.UTF_8));
    result.put("stderr", new String(err, 0, errEnd, StandardCharsets.UTF_8));
    return result;
  }

  private static JsonNode send(KafkaProducer<byte[], byte[]> p, JsonNode r) throws Exception {
    String topic = r.get("topic").asText();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    for (JsonNode m : r.get("records")) {
      RecordHeaders headers = new RecordHeaders();
      for (JsonNode h : m.path("headers")) {
        headers.add(h.get(0).asText(), bytes(h.get(1)));
      }
      Integer partition = m.path("partition").isNull() || m.path("partition").isMissingNode()
          ? null : m.get("partition").asInt();
      Long timestamp = m.path("timestamp").isNull() || m.path("timestamp").isMissingNode()
          ? null : m.get("timestamp").asLong();
      sent.add(p.send(new ProducerRecord<>(topic, partition, timestamp, bytes(m.get("key")),
          bytes(m.get("value")), headers)));
    }
    p.flush();
    ArrayNode offsets = F.arrayNode();
    for (Future<RecordMetadata> f : sent) {
      RecordMetadata md = f.get(WAIT_S, TimeUnit.SECONDS);
      if (md.hasOffset()) {
        offsets.add(md.offset());
      } else {
        offsets.addNull();
      }
    }
    return offsets;
  }

  private static ObjectNode record(ConsumerRecord<byte[], byte[]> rec) {
    ObjectNode n = F.objectNode();
    n.put("topic", rec.topic());
    n.put("partition", rec.partition());
    n.put("offset", rec.offset());
    n.put("timestamp", rec.timestamp());
    n.put("key", b64(rec.key()));
    n.put("value", b64(rec.value()));
    ArrayNode headers = F.arrayNode();
    for (Header h : rec.headers()) {
      headers.add(F.arrayNode().add(h.key()).add(b64(h.value())));
    }
    n.set("headers", headers);
    return n;
  }

  private static <T> ObjectNode errors(Map<String, KafkaFuture<T>> futures) throws Exception {
    ObjectNode out = F.objectNode();
    for (Map.Entry<String, KafkaFuture<T>> e : futures.entrySet()) {
      try {
        e.getValue().get(WAIT_S, TimeUnit.SECONDS);
        out.putNull(e.getKey());
      } catch (ExecutionException ex) {
        Throwable cause = unwrap(ex);
        out.put(e.getKey(), cause instanceof ApiException
            ? Errors.forException(cause).name() : cause.toString());
      }
    }
    return out;
  }

  private static ObjectNode offsets(Map<TopicPartition, Long> offsets) {
    ObjectNode out = F.objectNode();
    for (Map.Entry<TopicPartition, Long> e : offsets.entrySet()) {
      out.put(Integer.toString(e.getKey().partition()), e.getValue());
    }
    return out;
  }

  private static List<TopicPartition> partitions(JsonNode r) {
    List<TopicPartition> out = new ArrayList<>();
    for (JsonNode p : r.get("partitions")) {
      out.add(new TopicPartition(r.get("topic").asText(), p.asInt()));
    }
    return out;
  }

  private static ConfigResource resource(JsonNode r) {
    return new ConfigResource(ConfigResource.Type.valueOf(r.get("resource_type").asText()),
        r.get("resource_name").asText());
  }

  private static ArrayNode nodeIds(List<Node> nodes) {
    ArrayNode out = F.arrayNode();
    for (Node n : nodes) {
      out.add(n.id());
    }
    return out;
  }

  private static Properties props(JsonNode config) {
    Properties p = new Properties();
    p.putAll(strings(config));
    return p;
  }

  private static Map<String, String> strings(JsonNode object) {
    Map<String, String> out = new HashMap<>();
    Iterator<Map.Entry<String, JsonNode>> it = object.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }

  private static List<String> list(JsonNode array) {
    List<String> out = new ArrayList<>();
    for (JsonNode n : array) {
      out.add(n.asText());
    }
    return out;
  }

  private static byte[] bytes(JsonNode b64) {
    return b64 == null || b64.isNull() ? null : Base64.getDecoder().decode(b64.asText());
  }

  private static String b64(byte[] data) {
    return data == null ? null : Base64.getEncoder().encodeToString(data);
  }

  private static <T> T need(Map<String, T> clients, String id) {
    T client = clients.get(id);
    if (client == null) {
      throw new IllegalArgumentException("no client with id " + id);
    }
    return client;
  }

  private void closeAll() {
    producers.values().forEach(p -> p.close(Duration.ofSeconds(5)));
    consumers.values().forEach(c -> c.close(Duration.ofSeconds(5)));
    admins.values().forEach(a -> a.close(Duration.ofSeconds(5)));
  }
}
