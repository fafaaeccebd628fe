// One KafkaJS operation per run, driven by compat/test_kafkajs.py.
// Usage: node kafkajs_client.js < request.json > response.json
//
// The request is the first line of stdin, one JSON object {"op": ...,
// "brokers": ["HOST:PORT"], ...}; the response is the last line of stdout,
// one JSON object: {"ok": RESULT} or
// {"error": {"type", "name", "message"}} where "type" is the Kafka error name
// KafkaJS reports (e.g. TOPIC_ALREADY_EXISTS) when there is one. Keys, values
// and header values travel base64-encoded; timestamps and offsets as strings
// of decimal digits (KafkaJS's own representation).
//
// KafkaJS has no public assign()/seek() without a consumer group, so "fetch"
// drives the layer its consumer uses: the client's Cluster (metadata, leader
// lookup) and Broker.fetch(), then its Batch class, which drops records
// before the fetch offset and control records exactly as the consumer does.
'use strict'

const readline = require('readline')
const { Kafka, CompressionTypes, logLevel } = require('kafkajs')
require('./codecs') // snappy, lz4, zstd
const Batch = require('kafkajs/src/consumer/batch')

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}

function kafkaFor (req) {
  return new Kafka({
    clientId: 'compat-kafkajs',
    brokers: req.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    requestTimeout: 10000,
    retry: { retries: req.retries === undefined ? 3 : req.retries, initialRetryTime: 100 }
  })
}

// The Cluster that Kafka.consumer()/producer() build internally; KafkaJS keeps
// its factory behind a symbol (not a public API; see the header comment).
function clusterFor (kafka) {
  const symbol = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster'
  )
  if (symbol === undefined) throw new Error('KafkaJS internals changed: no createCluster')
  return kafka[symbol]({ allowAutoTopicCreation: true, metadataMaxAge: 300000 })
}

const b64 = (buf) => (buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64'))
const unb64 = (text) => (text === null || text === undefined ? null : Buffer.from(text, 'base64'))

function headersIn (pairs) {
  const out = {}
  for (const [name, value] of pairs) {
    const buf = unb64(value)
    if (name in out) {
      out[name] = [].concat(out[name], [buf])
    } else {
      out[name] = buf
    }
  }
  return out
}

function headersOut (headers) {
  const out = []
  for (const [name, value] of Object.entries(headers || {})) {
    for (const v of [].concat(value)) out.push([name, b64(v)])
  }
  return out
}

function producerFor (req) {
  if (!(req.compression in COMPRESSION)) throw new Error(`unknown codec ${req.compression}`)
  return kafkaFor(req).producer({
    allowAutoTopicCreation: true,
    idempotent: Boolean(req.idempotent),
    ...(req.idempotent ? { maxInFlightRequests: 1 } : {})
  })
}

// Sends the messages in order; their offsets (strings; null without acks).
// KafkaJS puts one send() into one record batch per partition, however large:
// send in chunks, one after the other, as an application must to stay under
// the broker's message.max.bytes.
async function sendAll (producer, req, wireMessages) {
  const messages = wireMessages.map((m) => ({
    partition: m.partition,
    key: unb64(m.key),
    value: unb64(m.value),
    headers: headersIn(m.headers),
    ...(m.timestamp === null ? {} : { timestamp: String(m.timestamp) })
  }))
  const chunk = req.chunk || 500
  const offsets = []
  for (let start = 0; start < messages.length; start += chunk) {
    const part = messages.slice(start, start + chunk)
    const metadata = await producer.send({
      topic: req.topic,
      acks: req.acks,
      timeout: 10000,
      compression: COMPRESSION[req.compression],
      messages: part
    })
    // The i-th record of a send to a partition has offset baseOffset + i.
    const base = {}
    for (const m of metadata || []) {
      if (m.errorCode !== 0) throw new Error(`partition ${m.partition}: error ${m.errorCode}`)
      base[m.partition] = BigInt(m.baseOffset)
    }
    const seen = {}
    for (const m of part) {
      const i = seen[m.partition] || 0
      seen[m.partition] = i + 1
      // acks=0: no response, so no offsets.
      offsets.push(
        base[m.partition] === undefined || base[m.partition] < 0n
          ? null
          : String(base[m.partition] + BigInt(i))
      )
    }
  }
  return offsets
}

// Reads one partition from an offset through the Cluster/Broker/Batch layer.
// fetchOnce() is one Fetch: the records it returned (control records and those
// before the offset dropped, as the consumer drops them) and whether the
// partition's high watermark has been reached.
function partitionReader (cluster, topic, partition, startOffset) {
  let offset = BigInt(startOffset)
  return {
    async fetchOnce () {
      const leaders = cluster.findLeaderForPartitions(topic, [partition])
      const nodeId = Object.keys(leaders)[0]
      const broker = await cluster.findBroker({ nodeId })
      const { responses } = await broker.fetch({
        maxWaitTime: 200,
        minBytes: 1,
        isolationLevel: 1,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 1048576 }] }]
      })
      const records = []
      let atEnd = false
      for (const { topicName, partitions } of responses) {
        for (const partitionData of partitions) {
          if (partitionData.errorCode !== 0) {
            throw new Error(`fetch ${topicName}/${partition}: error ${partitionData.errorCode}`)
          }
          const batch = new Batch(topicName, String(offset), partitionData)
          for (const m of batch.messages) {
            records.push({
              partition,
              offset: m.offset,
              key: b64(m.key),
              value: b64(m.value),
              headers: headersOut(m.headers),
              timestamp: m.timestamp
            })
          }
          if (!batch.isEmptyIncludingFiltered()) {
            offset = BigInt(batch.lastOffset()) + 1n
          }
          atEnd = offset >= BigInt(partitionData.highWatermark)
        }
      }
      return { records, atEnd }
    }
  }
}

// Fetches until `want` records (or the end with stopAtEnd, or the deadline).
// With `recover` (the cluster), a failed fetch is followed by a metadata
// refresh and another try, as KafkaJS's consumer recovers.
async function readRecords (reader, want, deadline, { stopAtEnd = false, recover = null }) {
  const records = []
  while (records.length < want && Date.now() < deadline) {
    let got
    try {
      got = await reader.fetchOnce()
    } catch (err) {
      if (recover === null) throw err
      await new Promise((resolve) => setTimeout(resolve, 200))
      await recover.refreshMetadata().catch(() => {})
      continue
    }
    records.push(...got.records)
    if (stopAtEnd && got.atEnd) break
  }
  return records
}

async function withClient (client, fn) {
  await client.connect()
  try {
    return await fn()
  } finally {
    await client.disconnect()
  }
}

const ops = {
  async produce (req) {
    const producer = producerFor(req)
    return withClient(producer, () => sendAll(producer, req, req.messages))
  },

  // One idempotent producer sends `before`, reports their offsets on a line,
  // waits for a line on stdin (the test restarts the broker meanwhile), then
  // sends `after` with the same producer.
  async produce_around (req, io) {
    const producer = producerFor({ ...req, idempotent: true })
    return withClient(producer, async () => {
      const before = await sendAll(producer, req, req.before)
      await io.write({ before })
      await io.nextLine()
      const after = await sendAll(producer, req, req.after)
      return before.concat(after)
    })
  },

  async fetch (req) {
    const cluster = clusterFor(kafkaFor(req))
    const deadline = Date.now() + req.timeoutMs
    const result = {}
    await withClient(cluster, async () => {
      await cluster.addTargetTopic(req.topic)
      await cluster.refreshMetadata()
      for (const [partition, offset] of Object.entries(req.offsets)) {
        const reader = partitionReader(cluster, req.topic, Number(partition), offset)
        const want = req.counts[partition]
        const records = await readRecords(reader, want, deadline, { stopAtEnd: req.stopAtEnd })
        result[partition] = records.slice(0, want)
      }
    })
    return result
  },

  // Reads `first` records from `offset`, says so on a line, waits for a line on
  // stdin (the test restarts the broker and produces more meanwhile), then
  // reads `second` more with the same cluster/reader, recovering from failed
  // fetches as KafkaJS's consumer does.
  async fetch_around (req, io) {
    const cluster = clusterFor(kafkaFor(req))
    return withClient(cluster, async () => {
      await cluster.addTargetTopic(req.topic)
      await cluster.refreshMetadata()
      const reader = partitionReader(cluster, req.topic, req.partition, req.offset)
      const first = await readRecords(reader, req.first, Date.now() + req.timeoutMs, {})
      await io.write({ first: first.length })
      await io.nextLine()
      const second = await readRecords(reader, req.second, Date.now() + req.timeoutMs, {
        recover: cluster
      })
      return first.concat(second)
    })
  },

  async consume_group (req) {
    const kafka = kafkaFor(req)
    const consumer = kafka.consumer({
      groupId: req.group,
      sessionTimeout: 10000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200
    })
    const records = []
    const next = {} // partition -> offset after the last record read
    await consumer.connect()
    try {
      await consumer.subscribe({ topic: req.topic, fromBeginning: true })
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, req.timeoutMs)
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (records.length >= req.count) return
            records.push({
              partition,
              offset: message.offset,
              key: b64(message.key),
              value: b64(message.value),
              headers: headersOut(message.headers),
              timestamp: message.timestamp
            })
            next[partition] = (BigInt(message.offset) + 1n).toString()
            if (records.length >= req.count) {
              clearTimeout(timer)
              resolve()
            }
          }
        }).catch(reject)
      })
      // Commit while still a member of the group, then leave.
      const offsets = Object.entries(next).map(([partition, offset]) => ({
        topic: req.topic,
        partition: Number(partition),
        offset
      }))
      if (offsets.length > 0) await consumer.commitOffsets(offsets)
    } finally {
      await consumer.disconnect()
    }
    return records
  },

  async metadata (req) {
    const kafka = kafkaFor(req)
    const cluster = clusterFor(kafka)
    return withClient(cluster, async () => {
      await cluster.addTargetTopic(req.topic)
      await cluster.refreshMetadata()
      const admin = kafka.admin()
      const described = await withClient(admin, () => admin.describeCluster())
      return {
        brokers: described.brokers,
        partitions: cluster
          .findTopicPartitionMetadata(req.topic)
          .map((p) => ({ partition: p.partitionId, leader: p.leader }))
      }
    })
  },

  async list_offsets (req) {
    const admin = kafkaFor(req).admin()
    return withClient(admin, () => admin.fetchTopicOffsets(req.topic))
  },

  async offsets_by_time (req) {
    const admin = kafkaFor(req).admin()
    return withClient(admin, () =>
      admin.fetchTopicOffsetsByTimestamp(req.topic, Number(req.timestamp))
    )
  },

  async create_topics (req) {
    const admin = kafkaFor(req).admin()
    return withClient(admin, () =>
      admin.createTopics({
        topics: req.topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })),
        timeout: 10000
      })
    )
  },

  async delete_topics (req) {
    const admin = kafkaFor(req).admin()
    await withClient(admin, () => admin.deleteTopics({ topics: req.topics, timeout: 10000 }))
    return true
  },

  async list_topics (req) {
    const admin = kafkaFor(req).admin()
    return withClient(admin, () => admin.listTopics())
  }
}

// The Kafka error name KafkaJS attached somewhere in the error chain, if any.
function kafkaErrorType (err) {
  const pending = [err]
  while (pending.length > 0) {
    const e = pending.shift()
    if (!e || typeof e !== 'object') continue
    if (typeof e.type === 'string') return e.type
    pending.push(e.originalError, e.cause, ...(Array.isArray(e.errors) ? e.errors : []))
  }
  return null
}

// Line-oriented stdin/stdout: the request is the first line; produce_around
// reads one more. Writes resolve once the pipe has taken the data (stdout to a
// pipe is asynchronous, and process.exit would cut it short).
function stdio () {
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  return {
    async nextLine () {
      const { value, done } = await lines.next()
      if (done) throw new Error('stdin closed')
      return value
    },
    write (obj) {
      return new Promise((resolve) => process.stdout.write(JSON.stringify(obj) + '\n', resolve))
    }
  }
}

async function main () {
  const io = stdio()
  const req = JSON.parse(await io.nextLine())
  const op = ops[req.op]
  if (op === undefined) throw new Error(`unknown op ${req.op}`)
  let response
  try {
    response = { ok: await op(req, io) }
  } catch (err) {
    response = {
      error: {
        type: kafkaErrorType(err),
        name: err && err.name,
        message: String(err && err.stack ? err.stack : err)
      }
    }
  }
  await io.write(response)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err)
    process.exit(2)
  }
)
