package graph

import (
	"context"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
)

// visibleTeams returns nil for an administrator (every team) and the caller's teams otherwise.
func visibleTeams(p *models.Principal) []string {
	if p.IsAdmin() {
		return nil
	}
	return p.TeamIDs()
}

// canReadWebhook reports whether the caller may see a webhook: GLOBAL webhooks are for
// GLOBAL_ADMIN only, TEAM and SERVICE webhooks for the members of their team.
func canReadWebhook(p *models.Principal, w *models.Webhook) bool {
	if p.IsAdmin() {
		return true
	}
	return w.Scope != webhook.ScopeGlobal && w.TeamID != nil && p.CanReadTeam(*w.TeamID)
}

// canManageWebhook reports whether the caller may change a webhook: GLOBAL_ADMIN any, a
// TEAM_MANAGER the TEAM and SERVICE webhooks of its teams.
func canManageWebhook(p *models.Principal, w *models.Webhook) bool {
	if p.IsAdmin() {
		return true
	}
	return w.Scope != webhook.ScopeGlobal && w.TeamID != nil && p.CanManageTeam(*w.TeamID)
}

// readableWebhook returns a webhook the caller names to read it or what belongs to it (its
// deliveries, its log): NOT_FOUND for an unknown id, FORBIDDEN when the caller may not see it.
func (r *Resolver) readableWebhook(ctx context.Context, p *models.Principal, id string) (*models.Webhook, error) {
	w, err := r.Store.FindWebhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !canReadWebhook(p, w) {
		return nil, models.Forbidden()
	}
	return w, nil
}

// managedWebhook returns the webhook the caller is about to change: NOT_FOUND for an unknown
// id, FORBIDDEN when the caller may not manage it.
func (r *Resolver) managedWebhook(ctx context.Context, p *models.Principal, id string) (*models.Webhook, error) {
	w, err := r.Store.FindWebhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !canManageWebhook(p, w) {
		return nil, models.Forbidden()
	}
	return w, nil
}

// authorizeWebhookCreate checks that the caller may create a webhook on the spec's scope
// target: FORBIDDEN for MEMBER, for GLOBAL unless GLOBAL_ADMIN, and for another team's team
// or service; VALIDATION for an unknown service. A missing target is left to validation.
func (r *Resolver) authorizeWebhookCreate(ctx context.Context, p *models.Principal, spec *webhook.Spec) error {
	if p.IsAdmin() {
		return nil
	}
	if p.Role != models.RoleTeamManager || spec.Scope == webhook.ScopeGlobal {
		return models.Forbidden()
	}
	var teamID string
	switch {
	case spec.Scope == webhook.ScopeService && spec.ServiceID != nil:
		sv, err := r.Store.FindServiceByID(ctx, *spec.ServiceID)
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Invalid("serviceId", "service not found")
		}
		if err != nil {
			return err
		}
		teamID = sv.TeamID
	case spec.Scope == webhook.ScopeTeam && spec.TeamID != nil:
		teamID = *spec.TeamID
	default:
		return nil
	}
	if !p.CanManageTeam(teamID) {
		return models.Forbidden()
	}
	return nil
}

// readableIncident returns an incident of the caller's teams: NOT_FOUND or FORBIDDEN
// otherwise.
func (r *Resolver) readableIncident(ctx context.Context, p *models.Principal, id string) (*models.Incident, error) {
	inc, err := r.Store.FindIncidentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.CanReadTeam(inc.TeamID) {
		return nil, models.Forbidden()
	}
	return inc, nil
}

// managedService returns a service whose incidents the caller may open: NOT_FOUND for an
// unknown id, FORBIDDEN unless the caller is GLOBAL_ADMIN or a TEAM_MANAGER of its team.
func (r *Resolver) managedService(ctx context.Context, p *models.Principal, id string) (*models.Service, error) {
	sv, err := r.Store.FindServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.CanManageTeam(sv.TeamID) {
		return nil, models.Forbidden()
	}
	return sv, nil
}

// readableDelivery returns a delivery whose webhook the caller may see: NOT_FOUND or
// FORBIDDEN otherwise.
func (r *Resolver) readableDelivery(ctx context.Context, p *models.Principal, id string) (*models.Delivery, error) {
	d, err := r.Store.FindDeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	w, err := r.Store.FindWebhookByID(ctx, d.WebhookID)
	if err != nil {
		return nil, err
	}
	if !canReadWebhook(p, w) {
		return nil, models.Forbidden()
	}
	return d, nil
}

// authorizeIntegration lets a manager of the integration's team, or an admin, change it:
// NOT_FOUND for an unknown integration, FORBIDDEN otherwise.
func (r *Resolver) authorizeIntegration(ctx context.Context, id string) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	in, err := r.Store.FindIntegrationByID(ctx, id)
	if err != nil {
		return err
	}
	sv, err := r.Store.FindServiceByID(ctx, in.ServiceID)
	if err != nil {
		return err
	}
	if !p.CanManageTeam(sv.TeamID) {
		return models.Forbidden()
	}
	return nil
}

// authorizeLogFilter refuses filters naming what the caller may not see: NOT_FOUND for unknown
// ids, FORBIDDEN for another team's objects and, for non-admins, GLOBAL webhooks.
func (r *Resolver) authorizeLogFilter(ctx context.Context, p *models.Principal, f logFilter) error {
	if f.webhookID != nil {
		if _, err := r.readableWebhook(ctx, p, *f.webhookID); err != nil {
			return err
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
