// A stand-in for socket.io-client's `io()`: the network boundary of live updates. Tests play
// the server with `serverEmit`.
type Handler = (payload?: unknown) => void

export class FakeSocket {
  connected = false
  closed = false
  /** socket.io's own reconnection is on (false after a refusal at connect). */
  active = true
  connectCalls = 0
  private handlers = new Map<string, Set<Handler>>()

  constructor(readonly options: Record<string, unknown>) {}

  on(event: string, handler: Handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set())
    this.handlers.get(event)!.add(handler)
    return this
  }

  off(event: string, handler: Handler) {
    this.handlers.get(event)?.delete(handler)
    return this
  }

  connect() {
    this.connectCalls += 1
    return this
  }

  disconnect() {
    this.connected = false
    this.closed = true
    return this
  }

  /** The server accepts the connection. */
  acceptConnection() {
    this.connected = true
    this.serverEmit('connect')
  }

  /** The server emits an event to this socket. */
  serverEmit(event: string, payload?: unknown) {
    for (const handler of [...(this.handlers.get(event) ?? [])]) handler(payload)
  }
}

export const sockets: FakeSocket[] = []

export function fakeIo(options: Record<string, unknown>) {
  const socket = new FakeSocket(options)
  sockets.push(socket)
  return socket
}

/** The socket the app opened last (and has not closed). */
export function openSocket(): FakeSocket {
  const open = sockets.filter((s) => !s.closed)
  const socket = open[open.length - 1]
  if (!socket) throw new Error('the app opened no socket')
  return socket
}
