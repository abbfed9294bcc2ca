"""Letters: Russian templates, the outbox, delivery with retries, and transports.

This layer never imports `workflow` or the daemon; it imports only the shared `base`
(the engine factory and its transactions, the UTC column type, the root error). The
rest of the system calls it through:

* `notifications.values` — `Reminder`, `Recipient`, `Rung`, `Notice` (value objects).
* `notifications.queue` — `queue_reminders` (daily digests) and `queue_notice`
  (transition notices), both inside the caller's transaction.
* `notifications.deliver` — `deliver_due`: claim, send, record; retries and dead letters.
* `notifications.outbox` — the tables, `list_outbox`, `retry`, `status_counts`.
* `notifications.transport` — `SmtpTransport`, `FileTransport`, `ConsoleTransport`.
* `notifications.render` — `Renderer` and `Renderer.check` (refuses broken templates).
* `notifications.headers` — header safety; `notifications.errors` — our errors.

Submodules are imported explicitly (nothing heavy is imported here).
"""
