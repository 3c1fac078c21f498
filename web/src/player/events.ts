/**
 * A tiny typed event emitter. Listeners run synchronously in the order they
 * were added; an exception thrown by one is reported asynchronously and does
 * not stop the others (nor the player that emitted the event).
 */
export type Listener<T> = (value: T) => void;

export class Emitter<E extends object> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener and returns a function that removes it. */
  on<K extends keyof E>(name: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn as Listener<never>);
    return () => this.off(name, fn);
  }

  /** Removes a listener added with on. */
  off<K extends keyof E>(name: K, fn: Listener<E[K]>): void {
    this.listeners.get(name)?.delete(fn as Listener<never>);
  }

  protected emit<K extends keyof E>(name: K, value: E[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<E[K]>)(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
