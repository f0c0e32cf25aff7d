/**
 * Holds one referenced timer while any promise given to `during` is pending: it alone keeps the
 * process alive for them. Everything else of a client (its timers, gRPC's sockets) is unref'd, so
 * an idle or forgotten client never holds a process open.
 */
export class KeepAlive {
  #pending = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  async during<T>(work: Promise<T>): Promise<T> {
    if (this.#pending++ === 0) this.#timer = setInterval(() => {}, 1 << 30);
    try {
      return await work;
    } finally {
      if (--this.#pending === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    }
  }
}
