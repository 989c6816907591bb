package graph

import (
	"context"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
)

// attemptToModel maps a logged attempt; the request log is already redacted by the worker.
func attemptToModel(a *models.Attempt) *model.DeliveryAttempt {
	m := &model.DeliveryAttempt{
		ID:          a.ID,
		DeliveryID:  a.DeliveryID,
		WebhookID:   a.WebhookID,
		Event:       model.WebhookEvent(a.Event),
		Number:      a.Number,
		Test:        a.Test,
		Outcome:     model.AttemptOutcome(a.Outcome),
		Request:     requestLogToModel(&a.Request.V),
		DurationMs:  a.DurationMs,
		Error:       a.Error,
		RemoteIP:    a.RemoteIP,
		StartedAt:   a.StartedAt,
		NextRetryAt: a.NextRetryAt,
		Truncated:   a.Truncated,
	}
	if r := a.Response.V; r != nil {
		m.Response = &model.HTTPResponseLog{Status: r.Status, Headers: webhookKVToModel(r.Headers), Body: optional(r.Body), Truncated: a.ResponseTruncated}
	}
	if a.ErrorKind != nil {
		k := model.AttemptErrorKind(*a.ErrorKind)
		m.ErrorKind = &k
	}
	return m
}

func requestLogToModel(r *webhook.RequestLog) *model.HTTPRequestLog {
	return &model.HTTPRequestLog{
		Method:  model.HTTPMethod(r.Method),
		URL:     r.URL,
		Headers: webhookKVToModel(r.Headers),
		Body:    optional(r.Body),
	}
}

// deliveryToModel maps a delivery; its webhook, incident and attempts are field resolvers.
func deliveryToModel(d *models.Delivery) *model.Delivery {
	return &model.Delivery{
		ID:            d.ID,
		WebhookID:     d.WebhookID,
		IncidentID:    d.IncidentID,
		Event:         model.WebhookEvent(d.Event),
		URL:           d.URL,
		Status:        model.DeliveryStatus(d.Status),
		User:          optional(d.Snapshot.V.User),
		CreatedAt:     d.CreatedAt,
		UpdatedAt:     d.UpdatedAt,
		NextAttemptAt: d.NextAttemptAt,
	}
}

// deliveryConnection lists the deliveries the caller may see as a Relay connection.
func (r *Resolver) deliveryConnection(ctx context.Context, p *models.Principal, f models.DeliveryFilter, first *int, after *string) (*model.DeliveryConnection, error) {
	f.TeamIDs = visibleTeams(p)
	limit, err := pageLimit(first)
	if err != nil {
		return nil, err
	}
	ds, more, total, err := r.Store.ListDeliveries(ctx, f, limit, valueOr(after, ""))
	if err != nil {
		return nil, err
	}
	if emptyPage(first) {
		ds, more = nil, len(ds) > 0
	}
	conn := &model.DeliveryConnection{Edges: make([]*model.DeliveryEdge, len(ds)), PageInfo: &model.PageInfo{HasNextPage: more}, TotalCount: int(total)}
	for i, d := range ds {
		c := models.EncodeDeliveryCursor(d)
		conn.Edges[i] = &model.DeliveryEdge{Cursor: c, Node: deliveryToModel(d)}
		conn.PageInfo.EndCursor = &c
	}
	return conn, nil
}
