// The WebSocket benchmark's reference hop: a bare TCP relay (node:net, pipe
// both ways, no HTTP parsing, no authentication). What any proxy process in
// the path costs on this machine, against which Gatehouse's tunnel is read.
// Usage: node bench/tcp-relay.mjs PORT TARGET_PORT   (127.0.0.1 only)
import net from 'node:net'

const [port, target] = process.argv.slice(2).map(Number)
const server = net.createServer((client) => {
  const up = net.connect(target, '127.0.0.1')
  client.setNoDelay(true)
  up.setNoDelay(true)
  const done = () => { client.destroy(); up.destroy() }
  client.on('error', done).on('close', done)
  up.on('error', done).on('close', done)
  client.pipe(up)
  up.pipe(client)
})
server.listen(port, '127.0.0.1', () => { process.stdout.write(`tcp relay 127.0.0.1:${port} -> ${target}\n`) })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.close(); process.exit(0) })
