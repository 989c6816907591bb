package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/herald-hq/herald/graph/gorillaws"
	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/hub"
)

// logFilter is what one deliveryLog subscriber asked for.
type logFilter struct {
	webhookID, teamID, serviceID *string
}

// deliveryLog streams every completed attempt the caller may see and the filter selects. Ids
// arrive from the store's hub (fed across processes by LISTEN/NOTIFY); each attempt and its
// webhook are re-read (once per process, by the attempt loader) and re-authorised here. The
// subscription runs on the websocket transport's Stream, without a goroutine of its own: the
// hub wakes the transport, which has logStream.fill read the announced ids. A subscriber the
// hub drops for falling behind is sent LIMIT_EXCEEDED and its subscription ends.
//
// The caller is authenticated once, by the connection, and authorised once, here; each
// attempt is then checked against that principal without reading who the caller is again.
// What keeps that sound is the connection's watch on the caller's API token (initWebsocket):
// once the token is revoked, the whole connection is closed before anything more is sent on
// it.
func (r *Resolver) deliveryLog(ctx context.Context, f logFilter) (<-chan *model.DeliveryAttempt, error) {
	p, stream, err := r.authorizeStream(ctx, f, "deliveryLog")
	if err != nil {
		return nil, err
	}
	l := &logStream{r: r, ctx: ctx, p: p, f: f, stream: stream, out: make(chan *model.DeliveryAttempt, 1)}
	l.share = !selectsCallerDependent(graphql.GetOperationContext(ctx).Operation.SelectionSet, map[string]bool{})
	l.sub = r.Store.Hub().Subscribe(stream.Wake)
	context.AfterFunc(ctx, l.sub.Close)
	stream.Start(l.fill)
	return l.out, nil
}

// logStream is one deliveryLog subscription.
type logStream struct {
	r      *Resolver
	ctx    context.Context
	p      *models.Principal
	f      logFilter
	stream *gorillaws.Stream
	sub    *hub.Subscription
	out    chan *model.DeliveryAttempt
	// share is set when the operation selects none of callerDependentFields.
	share bool
}

// fill implements the Stream contract: it reads announced ids until one is an attempt this
// subscriber gets, and moves that attempt into out; false when no id is waiting. Once the
// hub has dropped the subscriber, it fails the stream with the hub's error and closes out.
//
// Unless the operation selects one of callerDependentFields, the attempt goes to out through
// the Stream's Share, keyed by its id, so that the transport executes the operation once per
// attempt for all its subscribers rather than once for each. visibleAttempt decides for each
// subscriber whether it gets the attempt; once it does, the result no longer depends on who
// asks. The attempt's webhook and delivery and a delivery's webhook are checked against the
// attempt's webhook (a delivery and its attempts have the same one), which this caller may
// read; a webhook's deliveries, limited to the caller's teams, are then all of that webhook's,
// as for an admin; and no other field reachable from an attempt, but callerDependentFields,
// asks who the caller is.
func (l *logStream) fill() bool {
	for {
		id, err := l.sub.Next()
		if err != nil {
			l.r.Logger.WarnContext(l.ctx, "delivery log subscriber fell behind; closing it", "user_id", l.p.UserID)
			l.stream.Fail(err)
			close(l.out)
			return true
		}
		if id == "" {
			return false
		}
		a, ok := l.r.visibleAttempt(l.ctx, l.p, l.f, id)
		switch {
		case ok && l.share:
			l.stream.Share(id, func() { l.out <- a })
			return true
		case ok:
			l.out <- a
			return true
		}
	}
}

// callerDependentFields names the fields reachable from a DeliveryAttempt whose result
// depends on who asks even when the attempt is visible to them: User.apiTokens (of an
// incident's assignee) shows the tokens to admins and their owner only, User.teams the teams
// the caller may read, Incident.deliveries those of the webhooks the caller may read. They are
// matched by name, whatever type selects them (so Webhook.deliveries, which needs no check,
// is executed per subscriber too).
var callerDependentFields = map[string]bool{"apiTokens": true, "teams": true, "deliveries": true}

// selectsCallerDependent reports whether set, or a fragment in it, selects one of
// callerDependentFields; seen holds the fragments already looked at.
func selectsCallerDependent(set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if callerDependentFields[s.Name] || selectsCallerDependent(s.SelectionSet, seen) {
				return true
			}
		case *ast.InlineFragment:
			if selectsCallerDependent(s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[s.Name] || s.Definition == nil {
				continue
			}
			seen[s.Name] = true
			if selectsCallerDependent(s.Definition.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
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

// webhookStatusChanged streams every status change of a webhook the caller may see and the
// filter selects, authorised like deliveryLog (authorizeLogFilter, canReadWebhook) on the
// same connection-level principal. Change ids arrive from the store's status hub (fed across
// processes by LISTEN/NOTIFY); each change and its webhook are re-read and re-checked here.
// The filter's team and service match the webhook's own team and service.
func (r *Resolver) webhookStatusChanged(ctx context.Context, f logFilter) (<-chan *model.WebhookStatusChange, error) {
	p, stream, err := r.authorizeStream(ctx, f, "webhookStatusChanged")
	if err != nil {
		return nil, err
	}
	out := make(chan *model.WebhookStatusChange, 1)
	sub := r.Store.StatusHub().Subscribe(stream.Wake)
	context.AfterFunc(ctx, sub.Close)
	stream.Start(func() bool {
		for {
			id, err := sub.Next()
			if err != nil {
				stream.Fail(err)
				close(out)
				return true
			}
			if id == "" {
				return false
			}
			if c, ok := r.visibleStatusChange(ctx, p, f, id); ok {
				out <- c
				return true
			}
		}
	})
	return out, nil
}

// visibleStatusChange loads an announced status change and its webhook and says whether this
// subscriber gets it.
func (r *Resolver) visibleStatusChange(ctx context.Context, p *models.Principal, f logFilter, id string) (*model.WebhookStatusChange, bool) {
	c, err := r.Store.FindWebhookStatusChange(ctx, id)
	var w *models.Webhook
	if err == nil {
		w, err = r.Store.FindWebhookByID(ctx, c.WebhookID)
	}
	if err != nil {
		if models.ErrorCode(err) != models.CodeNotFound {
			r.Logger.WarnContext(ctx, "load announced status change", "change_id", id, "err", err)
		}
		return nil, false
	}
	if !canReadWebhook(p, w) ||
		f.webhookID != nil && *f.webhookID != w.ID ||
		f.teamID != nil && !matchesID(*f.teamID, w.TeamID, "") ||
		f.serviceID != nil && !matchesID(*f.serviceID, w.ServiceID, "") {
		return nil, false
	}
	return &model.WebhookStatusChange{
		Webhook: webhookToModel(w),
		Status:  model.WebhookStatus(c.Status),
		Reason:  c.Reason,
		Actor:   c.Actor,
		At:      c.At,
	}, true
}

// authorizeStream returns the caller of subscription name and its websocket stream once the
// caller may use filter f (authorizeLogFilter); VALIDATION when it is not served over a
// websocket.
func (r *Resolver) authorizeStream(ctx context.Context, f logFilter, name string) (*models.Principal, *gorillaws.Stream, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := r.authorizeLogFilter(ctx, p, f); err != nil {
		return nil, nil, err
	}
	stream := gorillaws.StreamFrom(ctx)
	if stream == nil {
		return nil, nil, models.Errorf(models.CodeValidation, "%s is served over websockets only", name)
	}
	return p, stream, nil
}
