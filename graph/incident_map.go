package graph

import (
	"context"

	"github.com/herald-hq/herald/graph/ingest"
	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

func (r *Resolver) incidentToModel(inc *models.Incident) *model.Incident {
	return &model.Incident{
		ID:             inc.ID,
		Title:          inc.Title,
		Description:    inc.Description,
		Urgency:        model.Urgency(inc.Urgency),
		Status:         model.IncidentStatus(inc.Status),
		MappedWith:     inc.MappedWith,
		URL:            r.Store.IncidentURL(inc.ID),
		AlertSource:    inc.AlertSource,
		ServiceID:      inc.ServiceID,
		TeamID:         inc.TeamID,
		AssigneeID:     inc.AssigneeID,
		CreatedAt:      inc.CreatedAt,
		AcknowledgedAt: inc.AcknowledgedAt,
		ResolvedAt:     inc.ResolvedAt,
	}
}

func (r *Resolver) integrationToModel(in *models.Integration) *model.Integration {
	m := &model.Integration{
		ID:         in.ID,
		Name:       in.Name,
		ServiceID:  in.ServiceID,
		ProcessURL: r.Store.BaseURL() + ingest.ProcessPath,
		RequestURL: r.Store.BaseURL() + ingest.RequestPath,
		CreatedAt:  in.CreatedAt,
	}
	f := in.APIFilter.V
	if f != (models.APIFilter{}) {
		m.APIFilter = &model.APIFilter{
			TitleKey:        optional(f.TitleKey),
			DescriptionKey:  optional(f.DescriptionKey),
			UrgencyKey:      optional(f.UrgencyKey),
			MappingKey:      optional(f.MappingKey),
			ResolveWhen:     apiMatchToModel(f.ResolveWhen),
			AcknowledgeWhen: apiMatchToModel(f.AcknowledgeWhen),
		}
	}
	return m
}

func apiMatchToModel(m *models.Match) *model.APIFilterMatch {
	if m == nil {
		return nil
	}
	return &model.APIFilterMatch{Key: m.Key, Value: m.Value}
}

func apiFilterFromInput(in *model.APIFilterInput) models.APIFilter {
	if in == nil {
		return models.APIFilter{}
	}
	f := models.APIFilter{
		TitleKey:       valueOr(in.TitleKey, ""),
		DescriptionKey: valueOr(in.DescriptionKey, ""),
		UrgencyKey:     valueOr(in.UrgencyKey, ""),
		MappingKey:     valueOr(in.MappingKey, ""),
	}
	if in.ResolveWhen != nil {
		f.ResolveWhen = &models.Match{Key: in.ResolveWhen.Key, Value: in.ResolveWhen.Value}
	}
	if in.AcknowledgeWhen != nil {
		f.AcknowledgeWhen = &models.Match{Key: in.AcknowledgeWhen.Key, Value: in.AcknowledgeWhen.Value}
	}
	return f
}

func requestToModel(rq *models.Request) *model.Request {
	return &model.Request{
		ID:          rq.ID,
		Title:       rq.Title,
		Description: rq.Description,
		ServiceID:   rq.ServiceID,
		AlertSource: rq.AlertSource,
		CreatedAt:   rq.CreatedAt,
	}
}

// changeIncident runs one incident change for the caller, recording the caller's name as the
// event's user, after checking that the caller may change the incident: GLOBAL_ADMIN any, a
// TEAM_MANAGER those of its teams (SPEC §3: a MEMBER only reads). NOT_FOUND for an unknown
// incident, FORBIDDEN otherwise.
func (r *Resolver) changeIncident(ctx context.Context, id string, change func(actor string) (*models.Incident, error)) (*model.Incident, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	inc, err := r.Store.FindIncidentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.CanManageTeam(inc.TeamID) {
		return nil, models.Forbidden()
	}
	if inc, err = change(p.Name); err != nil {
		return nil, err
	}
	return r.incidentToModel(inc), nil
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

// pageLimit is the page size to ask the store for: first, or the store's default (0) when it is
// omitted. An empty page (first: 0, which Relay allows) asks for one item, so that the answer
// can still say whether there is a next page; the caller drops it (emptyPage). Because the
// API's first counts from 0 and the store's from 1 (its 0 is "the default"), first is checked
// here, so that the message states the API's range: VALIDATION on first.
func pageLimit(first *int) (int, error) {
	switch {
	case first == nil:
		return 0, nil
	case *first < 0 || *first > models.MaxPageSize:
		return 0, models.Invalid("first", "first must be between 0 and %d", models.MaxPageSize)
	case *first == 0:
		return 1, nil
	}
	return *first, nil
}

// emptyPage reports whether first asks for no items.
func emptyPage(first *int) bool { return first != nil && *first == 0 }
