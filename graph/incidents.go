package graph

import (
	"context"

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

// changeIncident runs one incident change for the caller, recording the caller's name as the
// event's user, once the caller may change the incident (managedIncident): NOT_FOUND for an
// unknown incident, FORBIDDEN otherwise.
func (r *Resolver) changeIncident(ctx context.Context, id string, change func(actor string) (*models.Incident, error)) (*model.Incident, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.managedIncident(ctx, p, id); err != nil {
		return nil, err
	}
	inc, err := change(p.Name)
	if err != nil {
		return nil, err
	}
	return r.incidentToModel(inc), nil
}

// newIncidentFromInput maps createIncident's input; an omitted urgency is the store's default.
func newIncidentFromInput(in model.IncidentInput) models.NewIncident {
	return models.NewIncident{
		ServiceID:   in.ServiceID,
		Title:       in.Title,
		Description: in.Description,
		Urgency:     valueOr((*string)(in.Urgency), ""),
		MappedWith:  in.MappedWith,
		AssigneeID:  in.AssigneeID,
	}
}
