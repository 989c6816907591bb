// Package worker is Herald's background delivery worker: it takes due deliveries (handed off
// by this process's ingest, or claimed), formats each request with models/webhook, sends it
// through the SSRF-guarded egress client, records the attempt with the outcome policy's
// decision, mails failure notices and deletes old logs. It holds no SQL (the store does) and
// no webhook rule (models/webhook does), and never imports the API (graph).
//
// # Delivery state machine
//
// A delivery is written PENDING, due at once, in the same transaction as the incident change
// that causes it (the outbox). From there:
//
//	PENDING ──claim──▶ leased (PENDING, lease_token, lease_expires_at, attempts+1)
//	leased ──2xx──────────────────────────────▶ SUCCEEDED
//	leased ──failure, retries left────────────▶ PENDING, next_attempt_at = now + interval
//	leased ──failure, no retry left───────────▶ FAILED
//	leased ──lease expires (worker died)──────▶ claimable again within 10 s (at-least-once)
//	leased ──drain / webhook at its cap───────▶ PENDING, lease released, attempt undone
//	PENDING ──webhook deactivated─────────────▶ CANCELLED
//	SUCCEEDED | FAILED | CANCELLED ──redeliver▶ PENDING, due now, fresh retry budget
//
// Claiming commits at once (Store.ClaimDeliveries, FOR UPDATE SKIP LOCKED on PostgreSQL); a
// lease lasts Config.Lease (10 s) and is extended while the worker holds the delivery
// (keepLeases: Store.ExtendLeases every quarter lease for those about to run out); the
// HTTP request runs outside any transaction; completion applies only while the lease token
// still matches, in one transaction with the attempt row and the webhook's consecutive-failure
// count. Completions are batched: each send hands its outcome to one completer goroutine,
// which records whatever finished while its previous transaction ran (up to 128 attempts) with
// Store.CompleteAttempts, in order, and answers each send after the commit. The send keeps its
// slot until then, so a delivery is done only once its outcome is stored; a crash loses only
// uncommitted outcomes, whose leases expire and whose deliveries are sent again.
//
// What follows an attempt is the outcome policy's call (models/webhook/outcome): the worker
// asks it once the answer is in, the store completes its decision with the webhook's locked
// failure count and applies it. A failed attempt is retried retryCount times,
// retryIntervalMinutes apart (one minute lasting Config.RetryUnit), later when a 429 or 503
// carries a Retry-After (honoured up to an hour). 410 Gone, or the sixth failed attempt in a
// row, makes the webhook INACTIVE and cancels its pending deliveries. Test sends are logged
// but count towards nothing.
//
// # Isolation
//
// A process runs at most Config.Concurrency requests at once, and at most
// max(1, Concurrency/8) per webhook: claims leave out webhooks already at their cap, and the
// surplus of a batch is released at once, so one slow endpoint holds only its share.
//
// # Wake-ups
//
// The loop claims when Store.Wakeups signals (new deliveries in this process, or, on
// PostgreSQL, a NOTIFY on models.DeliveryChannel, sent after commit and coalesced, heard by
// models.Store.Listen), when
// a slot frees, and otherwise on a jittered poll of about a second, which is the floor.
package worker
