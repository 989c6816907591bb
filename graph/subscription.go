package graph

import (
	"context"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

// logFilter is what one deliveryLog subscriber asked for.
type logFilter struct {
	webhookID, teamID, serviceID *string
}

// deliveryLog streams every completed attempt the caller may see and the filter selects. Ids
// arrive from the store's hub (fed across processes by LISTEN/NOTIFY); each attempt and its
// webhook are re-read and re-authorised here. The goroutine sends only inside a select on
// ctx.Done(); a subscriber dropped by the hub for falling behind is ended.
func (r *Resolver) deliveryLog(ctx context.Context, f logFilter) (<-chan *model.DeliveryAttempt, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.authorizeLogFilter(ctx, p, f); err != nil {
		return nil, err
	}
	sub := r.Store.Hub().Subscribe()
	out := make(chan *model.DeliveryAttempt, 1)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Dropped:
				r.Logger.WarnContext(ctx, "delivery log subscriber fell behind; closing it", "user_id", p.UserID)
				return
			case id := <-sub.C:
				a, ok := r.visibleAttempt(ctx, p, f, id)
				if !ok {
					continue
				}
				select {
				case out <- a:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// authorizeLogFilter refuses filters naming what the caller may not see: NOT_FOUND for unknown
// ids, FORBIDDEN for another team's objects and, for non-admins, GLOBAL webhooks.
func (r *Resolver) authorizeLogFilter(ctx context.Context, p *models.Principal, f logFilter) error {
	if f.webhookID != nil {
		w, err := r.Store.FindWebhookByID(ctx, *f.webhookID)
		if err != nil {
			return err
		}
		if !canReadWebhook(p, w) {
			return models.Forbidden()
		}
	}
	if f.teamID != nil {
		if _, err := r.Store.FindTeamByID(ctx, *f.teamID); err != nil {
			return err
		}
		if !p.CanReadTeam(*f.teamID) {
			return models.Forbidden()
		}
	}
	if f.serviceID != nil {
		sv, err := r.Store.FindServiceByID(ctx, *f.serviceID)
		if err != nil {
			return err
		}
		if !p.CanReadTeam(sv.TeamID) {
			return models.Forbidden()
		}
	}
	return nil
}

// visibleAttempt loads an announced attempt (once for all subscribers) and says whether this
// subscriber gets it.
func (r *Resolver) visibleAttempt(ctx context.Context, p *models.Principal, f logFilter, id string) (*model.DeliveryAttempt, bool) {
	e := r.attempts.load(ctx, r.Store, id)
	if e.err != nil {
		if models.ErrorCode(e.err) != models.CodeNotFound {
			r.Logger.WarnContext(ctx, "load announced attempt", "attempt_id", id, "err", e.err)
		}
		return nil, false
	}
	w := e.webhook
	if w == nil || !canReadWebhook(p, w) {
		return nil, false
	}
	if f.webhookID != nil && *f.webhookID != w.ID {
		return nil, false
	}
	if f.teamID != nil && !matchesID(*f.teamID, w.TeamID, e.snap.TeamID) {
		return nil, false
	}
	if f.serviceID != nil && !matchesID(*f.serviceID, w.ServiceID, e.snap.ServiceID) {
		return nil, false
	}
	m := attemptToModel(e.attempt)
	m.LoadedWebhook = w
	return m, true
}

// matchesID reports whether want is the webhook's own target or the incident's.
func matchesID(want string, webhookTarget *string, incidentTarget string) bool {
	return (webhookTarget != nil && *webhookTarget == want) || incidentTarget == want
}
