/**
 * Turns per resource: what runs on one resource (a command, a due activation) waits for
 * what runs on it now, while other resources go on. A command and a due activation of the
 * same resource both set its name: an activation that fired while a newer command was
 * being applied switched the resource back to the older version between that command's
 * steps, and the node ran it while the tracker was told the newer one was active. In
 * turns, an activation a command superseded finds itself cancelled. A lesson's activation
 * at 8:00 is not held up by another lesson's download.
 */

/** See the module comment. Holds an entry only per resource with something running or waiting. */
export class ResourceTurns {
  /** Per resource, the end of what runs on it now. */
  private readonly turns = new Map<string, Promise<void>>()

  /** Runs `fn` once what runs on `resource` now has ended; settles as `fn` does. */
  take(resource: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.turns.get(resource) ?? Promise.resolve()).then(fn)
    const end = run.catch(() => {})
    this.turns.set(resource, end)
    end.then(() => {
      if (this.turns.get(resource) === end) this.turns.delete(resource)
    })
    return run
  }

  /** Resolves once what runs or waits now, on every resource, has ended (failures included). */
  async settled(): Promise<void> {
    await Promise.all(this.turns.values())
  }
}
