// One KafkaJS consumer-group member in a process of its own, for compat/test_groups.py.
// Usage: node group-member.js '<json config>'
//
// The same protocol as compat/groups_member.py (see its docstring): JSON
// events on stdout, one per line ("start", "subscribe", "assignment",
// "records", "committed", "commit_failed", "closed", "error"), with "t" in
// wall-clock milliseconds (Date.now()); the line "stop" (or end of stdin)
// on stdin makes it finish its batch, disconnect (leaving the group) and exit
// 0; it exits 3 after lifetime_s whatever happens.
//
// KafkaJS runs eachBatch with auto-resolve and auto-commit off: each chunk of
// at most max_records records is "processed" (delay_ms per record), reported,
// committed with the batch's own commitOffsetsIfNecessary(offsets), one
// OffsetCommit for exactly that chunk, and then resolved (so the next fetch
// starts after it). Between chunks it heartbeats, which is how KafkaJS learns of a
// rebalance; it stops a batch that went stale (partition revoked or sought).
// KafkaJS has no revocation callback: its GROUP_JOIN event carries the new
// whole assignment, and that is what "assignment" reports.
'use strict'

const readline = require('readline')
const { Kafka, logLevel } = require('kafkajs')
require('./codecs') // snappy, lz4, zstd

const config = JSON.parse(process.argv[2])

function emit (ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...fields }) + '\n')
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const lifetime = setTimeout(() => {
  emit('error', { error: `lifetime of ${config.lifetime_s} s over` })
  process.exit(3)
}, (config.lifetime_s || 150) * 1000)

// Commit one chunk. A retriable error (the coordinator unreachable while
// the broker restarts) is retried for up to 15 s, as Java's commitSync()
// does; any other error (the group rebalanced: the partition may be someone
// else's now) is thrown, and KafkaJS rejoins and fetches again from the last
// resolved offset, which does not include this chunk.
async function commit (commitOffsetsIfNecessary, partition, offset, batchNo) {
  const deadline = Date.now() + 15000
  for (;;) {
    try {
      await commitOffsetsIfNecessary({
        topics: [{ topic: config.topic, partitions: [{ partition, offset }] }]
      })
      return
    } catch (err) {
      const error = `${err.type || err.name}: ${err.message}`
      if (err.retriable && Date.now() < deadline) {
        emit('client_error', { error })
        await sleep(200)
        continue
      }
      emit('commit_failed', { batch: batchNo, error })
      throw err
    }
  }
}

async function main () {
  const kafka = new Kafka({
    clientId: config.name,
    brokers: [config.bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    requestTimeout: 10000,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  const consumer = kafka.consumer({
    groupId: config.group,
    sessionTimeout: config.session_ms,
    heartbeatInterval: config.heartbeat_ms,
    rebalanceTimeout: config.session_ms * 2,
    maxWaitTimeInMs: 100
  })
  const topic = config.topic
  let stopping = false
  let batches = 0

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    emit('assignment', { partitions: (payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b) })
  })
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    emit('client_error', {
      type: (payload.error && payload.error.type) || null,
      error: String(payload.error),
      restart: payload.restart
    })
  })

  const stopped = new Promise((resolve) => {
    const lines = readline.createInterface({ input: process.stdin })
    lines.on('line', (line) => { if (line.trim() === 'stop') resolve() })
    lines.on('close', resolve)
  })

  await consumer.connect()
  emit('subscribe')
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      const messages = batch.messages
      for (let start = 0; start < messages.length; start += config.max_records) {
        if (stopping || !isRunning() || isStale()) return
        const chunk = messages.slice(start, start + config.max_records)
        await sleep(config.delay_ms * chunk.length)
        batches += 1
        const batchNo = batches
        emit('records', {
          batch: batchNo,
          recs: chunk.map((m) => [batch.partition, Number(m.offset), m.key === null ? null : m.key.toString()])
        })
        const next = String(BigInt(chunk[chunk.length - 1].offset) + 1n)
        await commit(commitOffsetsIfNecessary, batch.partition, next, batchNo)
        emit('committed', { batch: batchNo })
        // Only now may the next fetch start after the chunk.
        resolveOffset(chunk[chunk.length - 1].offset)
        await heartbeat()
      }
    }
  })

  await stopped
  stopping = true
  await consumer.disconnect()
  clearTimeout(lifetime)
  emit('closed')
}

emit('start', { pid: process.pid })
main().then(
  () => process.exit(0),
  (err) => {
    emit('error', { error: String(err && err.stack ? err.stack : err) })
    process.exit(1)
  }
)
