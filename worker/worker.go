package worker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook/outcome"
	"github.com/herald-hq/herald/models/webhook/render"
)

// Defaults of Config.
const (
	DefaultConcurrency  = 64
	DefaultRetryUnit    = time.Minute
	DefaultLogRetention = 720 * time.Hour
	DefaultLease        = 10 * time.Second
	DefaultGrace        = 30 * time.Second
	DefaultPollInterval = time.Second

	// notifyInterval is the least time between two failure e-mails of one webhook.
	notifyInterval = 10 * time.Minute
	// claimBatch bounds one claim statement.
	claimBatch = 64
	// unrecordedPerSlot bounds the deliveries claimed and not yet recorded, per request slot:
	// a request's slot is free again once its response is in, while its outcome waits for
	// the completer's next batch.
	unrecordedPerSlot = 4
	// holdPerWebhook bounds a webhook's held deliveries, in multiples of its cap, and holdFor
	// how long one may wait (see held).
	holdPerWebhook = 2
	holdFor        = time.Second
	// storeTimeout bounds a bookkeeping statement that must run even while draining.
	storeTimeout = 15 * time.Second
	// recordRetry is how long a worker waits before trying again to record an attempt while
	// the database cannot be reached.
	recordRetry     = time.Second
	janitorInterval = 10 * time.Minute
	vacuumInterval  = 20 * time.Second
	janitorBatch    = 1000
)

// Config configures a Worker. Zero values take the defaults above.
type Config struct {
	Store  *models.Store
	Logger *slog.Logger
	// Concurrency bounds the requests in flight in this process (HERALD_WORKER_CONCURRENCY);
	// one webhook gets at most max(1, Concurrency/8) of them.
	Concurrency int
	// RetryUnit is how long one minute of retryIntervalMinutes lasts (HERALD_RETRY_UNIT).
	RetryUnit time.Duration
	// LogRetention is how long attempts and finished deliveries are kept (HERALD_LOG_RETENTION).
	LogRetention time.Duration
	// AllowPrivateTargets lets requests reach loopback and private addresses.
	AllowPrivateTargets bool
	// SMTPURL (smtp://user:pass@host:port, or smtps://) and SMTPFrom configure failure
	// e-mails; without them a warning is logged instead of each e-mail.
	SMTPURL  string
	SMTPFrom string
	// BaseURL is Herald's public URL; e-mails link to BaseURL/dashboard.
	BaseURL string
	// Metrics count what the worker does (NewMetrics); nil keeps them in a private registry.
	Metrics *Metrics
	// NowFunc is the clock of the retry schedule and signatures; nil means the store's.
	NowFunc func() time.Time
	// Lease is how long a lease lasts unless extended: the worker extends those of the
	// deliveries it holds every quarter lease (one statement for those about to run out), so a
	// delivery is never taken from a live worker however long its request, and the deliveries
	// of a process that died are claimable again within Lease.
	Lease time.Duration
	// Grace is how long Run waits for in-flight attempts once its context is done.
	Grace time.Duration
	// PollInterval is the claim loop's floor between looks at the queue (jittered ±20 %).
	PollInterval time.Duration
	// Client replaces the egress client (tests); nil builds one from AllowPrivateTargets.
	Client *http.Client
}

// Worker sends deliveries: a Sender with the queue, the per-webhook caps, the completer and
// the janitor. Create it with New and start it with Run.
type Worker struct {
	*Sender
	cache *render.Cache
	// leases keeps the leases of the deliveries this worker holds.
	leases *leaseKeeper
	// policy says what follows each attempt.
	policy     outcome.Policy
	mailer     *mailer
	cfg        Config
	perWebhook int

	mu sync.Mutex
	// running counts requests in flight; unrecorded, claimed deliveries whose outcome is not
	// yet stored (running included); inflight, each webhook's share of running (a failed
	// attempt keeps it until recorded, see deliver).
	running    int
	unrecorded int
	inflight   map[string]int
	// held queues claimed deliveries by webhook until it has room; heldCount counts them.
	held      map[string][]held
	heldCount int
	freed     chan struct{}
	// completions carries finished attempts to the completer (see complete.go).
	completions chan completion
	// Deliveries handed over by this process's ingest (see handoff.go): reserved counts the
	// places reservations hold, reservedBy per webhook, reservations by lease token; handed
	// queues what was committed for the claim loop, which arrived wakes; draining refuses more.
	reserved     int
	reservedBy   map[string]int
	reservations map[string]map[string]int
	handed       []handedBatch
	arrived      chan struct{}
	draining     bool
}

// New checks cfg and returns a worker. Errors: a missing store, an unreadable SMTP URL, a
// metric already registered (the queue gauges, which New adds to cfg.Metrics).
func New(cfg Config) (*Worker, error) {
	sender, err := NewSender(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Logger, cfg.NowFunc, cfg.Client, cfg.Metrics = sender.log, sender.now, sender.client, sender.metrics
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RetryUnit, DefaultRetryUnit)
	def(&cfg.LogRetention, DefaultLogRetention)
	def(&cfg.Lease, DefaultLease)
	def(&cfg.Grace, DefaultGrace)
	def(&cfg.PollInterval, DefaultPollInterval)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if err = cfg.Metrics.registerQueue(cfg.Store, cfg.NowFunc); err != nil {
		return nil, err
	}
	var ml *mailer
	if cfg.SMTPURL != "" {
		if ml, err = newMailer(cfg.SMTPURL, cfg.SMTPFrom); err != nil {
			return nil, err
		}
	}
	return &Worker{
		Sender:      sender,
		cache:       render.NewCache(1024),
		leases:      newLeaseKeeper(cfg.NowFunc()),
		policy:      outcome.Policy{RetryUnit: cfg.RetryUnit},
		mailer:      ml,
		cfg:         cfg,
		perWebhook:  max(1, cfg.Concurrency/8),
		inflight:    make(map[string]int),
		held:        make(map[string][]held),
		freed:       make(chan struct{}, 1),
		completions: make(chan completion, cfg.Concurrency),

		reservedBy:   make(map[string]int),
		reservations: make(map[string]map[string]int),
		arrived:      make(chan struct{}, 1),
	}, nil
}

// Run claims and sends deliveries until ctx is done, then stops claiming, waits up to Grace
// for the attempts in flight (those still running after it are abandoned and their leases
// released) and returns nil. It also runs the janitor and, on a PostgreSQL
// without autovacuum, the vacuumer; on PostgreSQL the process runs models.Store.Listen beside
// it, which wakes the loop on new deliveries.
func (w *Worker) Run(ctx context.Context) error {
	// In-flight sends outlive ctx during the grace period; cancelSends cuts them short.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var bg, sends, completer sync.WaitGroup
	bg.Go(func() { w.janitor(ctx) })
	if w.store.NeedsVacuum() {
		bg.Go(func() { w.vacuumer(ctx) })
	}
	// The completer outlives the sends: it stops once none is left to record.
	stopCompleter := make(chan struct{})
	completer.Go(func() { w.completer(stopCompleter) })
	// The leases are kept until the last outcome is recorded.
	stopKeeping := make(chan struct{})
	var keeper sync.WaitGroup
	keeper.Go(func() { w.keepLeases(stopKeeping) })
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "per_webhook", w.perWebhook)

	w.store.SetHandoff(w)
	timer := time.NewTimer(0)
	defer timer.Stop()
	capped := false
	for ctx.Err() == nil {
		// A claim runs when work may be due (a wake-up, the poll) and, after one that ran out
		// of capacity, when capacity is freed; deliveries handed over need none.
		var freed <-chan struct{}
		if capped {
			freed = w.freed
		}
		claim := true
		select {
		case <-ctx.Done():
			continue
		case <-w.store.Wakeups():
		case <-freed:
		case <-timer.C:
		case <-w.arrived:
			claim = false
		}
		if err := w.startHanded(ctx, sendCtx, &sends); err != nil && ctx.Err() == nil {
			w.logStoreError("start handed deliveries", err)
		}
		if !claim {
			continue
		}
		for {
			more, full, err := w.claim(ctx, sendCtx, &sends)
			capped = full
			if err != nil && ctx.Err() == nil {
				w.logStoreError("claim deliveries", err)
			}
			if !more || err != nil {
				break
			}
		}
		timer.Reset(jitter(w.cfg.PollInterval))
	}

	w.stopHandoffs(ctx)
	w.log.Info("worker draining", "in_flight", w.inFlight())
	w.releaseHeld(ctx, w.dropHeld())
	done := make(chan struct{})
	go func() { sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.Grace):
		w.log.Warn("grace period over: abandoning attempts in flight", "in_flight", w.inFlight())
		cancelSends()
		<-done
	}
	close(stopCompleter)
	completer.Wait()
	close(stopKeeping)
	keeper.Wait()
	bg.Wait()
	w.log.Info("worker stopped")
	return nil
}

// jitter returns d ± 20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (w *Worker) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running
}

// logStoreError logs a failed bookkeeping step of the claim loop, which goes on polling and
// tries again once the database is back.
func (w *Worker) logStoreError(what string, err error) {
	if models.ErrorCode(err) == models.CodeUnavailable {
		w.log.Warn(what+": database unavailable", "err", err)
		return
	}
	w.log.Error(what, "err", err)
}

// claim first starts the held deliveries (see held) whose webhook has room again, then leases
// as many deliveries as there are free slots, at most a cap and a full held queue's worth per
// webhook (leaving out webhooks with no room), and starts, holds or gives back each. more
// reports that it got all it asked for, so more may be waiting; capped, that it had no room
// to ask for some (none at all, a webhook left out or filled), which freed capacity may make.
func (w *Worker) claim(ctx, sendCtx context.Context, sends *sync.WaitGroup) (more, capped bool, err error) {
	w.releaseHeld(ctx, w.startHeld(sendCtx, sends))
	w.mu.Lock()
	free := min(w.cfg.Concurrency-w.running, w.cfg.Concurrency*unrecordedPerSlot-w.unrecorded-w.heldCount, claimBatch) - w.reserved
	// A webhook can take its cap and holdPerWebhook times more to hold; one with no room left
	// is left out.
	room := w.perWebhook * (1 + holdPerWebhook)
	var skip []string
	for id, n := range w.inflight {
		if n+len(w.held[id]) >= room {
			skip = append(skip, id)
		}
	}
	w.mu.Unlock()
	if free <= 0 {
		return false, true, nil
	}
	if w.leases.behind(w.now(), w.cfg.Lease) {
		// Back after the database was away: what this worker holds is its own again first.
		if err := w.extendLeases(ctx); err != nil {
			return false, false, err
		}
	}
	token, issued := uuid.NewString(), w.now()
	claimed, err := w.store.ClaimDeliveries(ctx, token, free, room, w.cfg.Lease, skip)
	if err != nil {
		return false, false, err
	}
	if len(claimed) > 0 {
		w.leases.add(token, issued)
	}
	w.metrics.takenByClaim.Add(float64(len(claimed)))
	w.dispatch(ctx, sendCtx, sends, claimed, token)
	// A batch cut short by webhook caps may hide other webhooks' work: look again at once
	// (the capped webhooks are now left out, so this cannot spin on them). A webhook left out,
	// or given all its room, may have more waiting: look again when capacity is freed.
	capped = len(skip) > 0
	perHook := map[string]int{}
	for _, c := range claimed {
		if perHook[c.Delivery.WebhookID]++; perHook[c.Delivery.WebhookID] >= room {
			capped = true
		}
	}
	return len(claimed) == free, capped, nil
}

// dispatch starts, holds or gives back deliveries leased with token, and cancels those whose
// webhook can no longer take them.
func (w *Worker) dispatch(ctx, sendCtx context.Context, sends *sync.WaitGroup, claimed []*models.ClaimedDelivery, token string) {
	var release []held
	now := time.Now()
	for _, c := range claimed {
		// A webhook deactivated, or a URL removed from it, since the delivery was queued (a
		// redelivery racing the change): nothing is sent.
		if c.Webhook == nil || c.Webhook.Status != models.WebhookActive || !slices.Contains(c.Webhook.URLs.V, c.Delivery.URL) {
			w.cancelClaimed(c, token)
			continue
		}
		h := held{c: c, token: token, claimedAt: now}
		switch w.admit(h) {
		case admitStart:
			w.start(sendCtx, sends, h)
		case admitRelease:
			release = append(release, h)
		}
	}
	w.releaseHeld(ctx, release)
}

// held is a claimed delivery waiting in memory for its webhook's share of the cap. A claim
// returns the oldest due deliveries whatever their webhook, so one busy webhook fills a batch
// beyond its cap; holding the surplus (up to holdPerWebhook times the cap) and starting it as
// the webhook's requests finish spares a claim and a release per delivery. A held delivery
// older than holdFor is given back instead, so that its lease never runs out while it waits
// and a webhook changed or deactivated meanwhile is read again; the attempt that deactivates
// a webhook gives back its held deliveries at once (see forgetHeld).
type held struct {
	c         *models.ClaimedDelivery
	token     string
	claimedAt time.Time
}

// What admit does with a claimed delivery.
const (
	admitStart = iota
	admitHold
	admitRelease
)

// admit takes a request slot, the webhook's share and an unrecorded place for h when the
// webhook is under its cap (admitStart), else holds h when the webhook's held queue has room
// (admitHold), else leaves h to be given back (admitRelease).
func (w *Worker) admit(h held) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := h.c.Webhook.ID
	switch {
	case w.acquireLocked(id):
		return admitStart
	case len(w.held[id]) < holdPerWebhook*w.perWebhook:
		w.held[id] = append(w.held[id], h)
		w.heldCount++
		return admitHold
	}
	return admitRelease
}

// startHeld starts the held deliveries whose webhook has room and returns those held too
// long, removed from the queues, to be given back.
func (w *Worker) startHeld(sendCtx context.Context, sends *sync.WaitGroup) (stale []held) {
	var ready []held
	expired := time.Now().Add(-w.holdFor())
	w.mu.Lock()
	for id := range w.held {
		for {
			next, ok, old := w.takeHeldLocked(id, expired)
			stale = append(stale, old...)
			if !ok {
				break
			}
			ready = append(ready, next)
		}
	}
	w.mu.Unlock()
	for _, h := range ready {
		w.start(sendCtx, sends, h)
	}
	return stale
}

// takeHeldLocked removes the webhook's held deliveries held since before expired (stale, to
// be given back) and, when the next one can start now, admits it (ok). w.mu is held.
func (w *Worker) takeHeldLocked(id string, expired time.Time) (next held, ok bool, stale []held) {
	q := w.held[id]
	before := len(q)
	for len(q) > 0 && q[0].claimedAt.Before(expired) {
		stale, q = append(stale, q[0]), q[1:]
	}
	if len(q) > 0 && w.acquireLocked(id) {
		next, ok, q = q[0], true, q[1:]
	}
	w.heldCount -= before - len(q)
	if len(q) == 0 {
		delete(w.held, id)
	} else {
		w.held[id] = q
	}
	return next, ok, stale
}

// dropHeld empties the held queues (the worker is draining) and returns what they held.
func (w *Worker) dropHeld() []held {
	w.mu.Lock()
	defer w.mu.Unlock()
	var all []held
	for _, q := range w.held {
		all = append(all, q...)
	}
	clear(w.held)
	w.heldCount = 0
	return all
}

// forgetHeld gives back the held deliveries of a webhook that has just been deactivated, so
// that none of them is sent: the deactivation cancelled them in the database.
func (w *Worker) forgetHeld(ctx context.Context, webhookID string) {
	w.mu.Lock()
	q := w.held[webhookID]
	delete(w.held, webhookID)
	w.heldCount -= len(q)
	w.mu.Unlock()
	w.releaseHeld(ctx, q)
}

// releaseHeld gives back the leases of deliveries that will not be sent now, so that they are
// due again at once.
func (w *Worker) releaseHeld(ctx context.Context, hs []held) {
	if len(hs) == 0 {
		return
	}
	byToken := map[string][]string{}
	for _, h := range hs {
		byToken[h.token] = append(byToken[h.token], h.c.Delivery.ID)
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	for token, ids := range byToken {
		if err := w.store.ReleaseLeases(bctx, token, ids); err != nil {
			w.log.Error("release leases", "err", err, "count", len(ids))
		}
	}
}

// holdFor is how long a delivery may be held: holdFor, or a third of a shorter lease.
func (w *Worker) holdFor() time.Duration { return min(holdFor, w.cfg.Lease/3) }

// start runs an admitted delivery on its own goroutine, counted in sends.
func (w *Worker) start(sendCtx context.Context, sends *sync.WaitGroup, h held) {
	sends.Go(func() {
		s := &slot{w: w, webhookID: h.c.Webhook.ID, request: true, webhook: true, sendCtx: sendCtx, sends: sends}
		defer s.recorded()
		w.deliver(sendCtx, h.c, h.token, s)
	})
}

func (w *Worker) cancelClaimed(c *models.ClaimedDelivery, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := w.store.CancelClaimedDelivery(ctx, c.Delivery.ID, token); err != nil && !errors.Is(err, models.ErrLeaseLost) {
		w.log.Error("cancel delivery of inactive webhook", "delivery_id", c.Delivery.ID, "err", err)
	}
}

// acquireLocked takes a request slot, the webhook's share and an unrecorded place when the
// webhook is under its cap and a request slot is free. w.mu is held.
func (w *Worker) acquireLocked(webhookID string) bool {
	if w.inflight[webhookID] >= w.perWebhook || w.running >= w.cfg.Concurrency {
		return false
	}
	w.inflight[webhookID]++
	w.running++
	w.unrecorded++
	w.metrics.inFlight.Set(float64(w.running))
	return true
}

// slot is what one delivery holds of the worker's capacity, given back in stages by the one
// goroutine that runs the delivery.
type slot struct {
	w         *Worker
	webhookID string
	// request and webhook say whether the request slot and the webhook's share are still held.
	request, webhook bool
	// sendCtx and sends start the webhook's next held delivery (see handOff).
	sendCtx context.Context
	sends   *sync.WaitGroup
}

// answered gives back the request slot once the attempt's request is over and, when it
// succeeded, the webhook's share too (see deliver).
func (s *slot) answered(succeeded bool) {
	s.w.mu.Lock()
	s.releaseRequestLocked()
	var next held
	var ok bool
	var stale []held
	if succeeded {
		next, ok, stale = s.releaseWebhookLocked()
	}
	s.w.mu.Unlock()
	s.handOff(next, ok, stale)
}

// recorded gives back everything still held once the delivery's outcome is stored (or given
// up on).
func (s *slot) recorded() {
	s.w.mu.Lock()
	s.releaseRequestLocked()
	next, ok, stale := s.releaseWebhookLocked()
	s.w.unrecorded--
	s.w.mu.Unlock()
	s.handOff(next, ok, stale)
}

// handOff gives back stale held deliveries, starts next, the webhook's held delivery that
// took over the share just given back, if there is one (ok), and wakes the claim loop.
func (s *slot) handOff(next held, ok bool, stale []held) {
	s.w.releaseHeld(s.sendCtx, stale)
	if ok {
		s.w.start(s.sendCtx, s.sends, next)
	}
	s.w.signalFreed()
}

func (s *slot) releaseRequestLocked() {
	if !s.request {
		return
	}
	s.request = false
	s.w.running--
	s.w.metrics.inFlight.Set(float64(s.w.running))
}

// releaseWebhookLocked gives back the webhook's share and, when the webhook has a held
// delivery that is not too old and a request slot is free, admits it at once (ok): a busy
// webhook's next request starts as soon as one of its requests ends, without waiting for
// the claim loop. Held deliveries found too old are returned in stale.
func (s *slot) releaseWebhookLocked() (next held, ok bool, stale []held) {
	if !s.webhook {
		return held{}, false, nil
	}
	s.webhook = false
	w, id := s.w, s.webhookID
	if w.inflight[id]--; w.inflight[id] <= 0 {
		delete(w.inflight, id)
	}
	return w.takeHeldLocked(id, time.Now().Add(-w.holdFor()))
}

func (w *Worker) signalFreed() {
	select {
	case w.freed <- struct{}{}:
	default:
	}
}
