package graph

import (
	"context"

	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/webhook"
)

// Who may do what (SPEC §3), all of it here: a GLOBAL_ADMIN anything; a TEAM_MANAGER its
// teams, their services, integrations and incidents, and their TEAM and SERVICE webhooks; a
// MEMBER reads its teams and what belongs to them; GLOBAL webhooks and their logs are the
// admins' alone. The caller comes from principal (auth.go); the primitives (IsAdmin,
// CanReadTeam, CanManageTeam) are models.Principal's. The resolvers call what is here before
// they call the store, and nothing else in package graph decides who may do what.
//
// The can… functions decide from the caller alone; the readable… and managed… methods read
// what the caller names and answer NOT_FOUND for an unknown id, FORBIDDEN when it may not;
// the authorize… methods answer those errors for a change that involves more than one object.

// visibleTeams returns nil for an administrator (every team) and the caller's teams otherwise.
func visibleTeams(p *models.Principal) []string {
	if p.IsAdmin() {
		return nil
	}
	return p.TeamIDs()
}

// canReadTeam reports whether the caller may see a team and what belongs to it: GLOBAL_ADMIN
// any, anyone else their own.
func canReadTeam(p *models.Principal, teamID string) bool { return p.CanReadTeam(teamID) }

// canManageTeam reports whether the caller may change a team and what belongs to it (create its
// services and integrations, add members, change its incidents): GLOBAL_ADMIN any, a
// TEAM_MANAGER the teams it manages.
func canManageTeam(p *models.Principal, teamID string) bool { return p.CanManageTeam(teamID) }

// canReadGlobalWebhooks reports whether the caller may see GLOBAL webhooks: GLOBAL_ADMIN only.
func canReadGlobalWebhooks(p *models.Principal) bool { return p.IsAdmin() }

// canCreateTeam reports whether the caller may create teams: GLOBAL_ADMIN only.
func canCreateTeam(p *models.Principal) bool { return p.IsAdmin() }

// canCreateUser reports whether the caller may create a user with role in teamIDs: GLOBAL_ADMIN
// any; a TEAM_MANAGER no GLOBAL_ADMIN, and only into one or more of the teams it manages.
func canCreateUser(p *models.Principal, role model.Role, teamIDs []string) bool {
	if p.IsAdmin() {
		return true
	}
	if role == model.RoleGlobalAdmin || len(teamIDs) == 0 {
		return false
	}
	for _, id := range teamIDs {
		if !canManageTeam(p, id) {
			return false
		}
	}
	return true
}

// canManageTokensOf reports whether the caller may list, create and revoke the user's API
// tokens: GLOBAL_ADMIN anyone's, anyone else their own.
func canManageTokensOf(p *models.Principal, userID string) bool {
	return p.IsAdmin() || p.UserID == userID
}

// authorizeTeamMember checks that the caller may add the user to the team: FORBIDDEN unless it
// manages the team and, for a TEAM_MANAGER, unless the user is in one of the teams it manages
// already. A manager moves people between the teams they manage; anyone else is an admin's to
// add, and an unknown id answers the same (a manager learns nothing of other users).
func (r *Resolver) authorizeTeamMember(ctx context.Context, p *models.Principal, teamID, userID string) error {
	if !canManageTeam(p, teamID) {
		return models.Forbidden()
	}
	if p.IsAdmin() {
		return nil
	}
	ours, err := r.Store.InTeams(ctx, userID, p.TeamIDs())
	if err != nil {
		return err
	}
	if !ours {
		return models.Forbidden()
	}
	return nil
}

// managedService returns a service the caller manages (opens incidents on, adds integrations
// to): NOT_FOUND for an unknown id, FORBIDDEN unless the caller manages its team.
func (r *Resolver) managedService(ctx context.Context, p *models.Principal, id string) (*models.Service, error) {
	sv, err := r.Store.FindServiceByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !canManageTeam(p, sv.TeamID) {
		return nil, models.Forbidden()
	}
	return sv, nil
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
	_, err = r.managedService(ctx, p, in.ServiceID)
	return err
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
	if !canManageTeam(p, teamID) {
		return models.Forbidden()
	}
	return nil
}

// readableIncident returns an incident of the caller's teams: NOT_FOUND or FORBIDDEN
// otherwise.
func (r *Resolver) readableIncident(ctx context.Context, p *models.Principal, id string) (*models.Incident, error) {
	return r.teamIncident(ctx, p, id, canReadTeam)
}

// managedIncident returns an incident the caller may change (acknowledge, resolve, reassign…):
// NOT_FOUND for an unknown id, FORBIDDEN unless the caller manages its team (a MEMBER only
// reads).
func (r *Resolver) managedIncident(ctx context.Context, p *models.Principal, id string) (*models.Incident, error) {
	return r.teamIncident(ctx, p, id, canManageTeam)
}

// teamIncident returns the incident once may allows the caller its team: NOT_FOUND for an
// unknown id, FORBIDDEN otherwise.
func (r *Resolver) teamIncident(ctx context.Context, p *models.Principal, id string, may func(*models.Principal, string) bool) (*models.Incident, error) {
	inc, err := r.Store.FindIncidentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !may(p, inc.TeamID) {
		return nil, models.Forbidden()
	}
	return inc, nil
}

// readableDelivery returns a delivery whose webhook the caller may see: NOT_FOUND or
// FORBIDDEN otherwise.
func (r *Resolver) readableDelivery(ctx context.Context, p *models.Principal, id string) (*models.Delivery, error) {
	d, err := r.Store.FindDeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := r.readableWebhook(ctx, p, d.WebhookID); err != nil {
		return nil, err
	}
	return d, nil
}

// managedDelivery returns a delivery the caller may send again: NOT_FOUND for an unknown id,
// FORBIDDEN unless the caller may manage its webhook.
func (r *Resolver) managedDelivery(ctx context.Context, p *models.Principal, id string) (*models.Delivery, error) {
	d, err := r.Store.FindDeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := r.managedWebhook(ctx, p, d.WebhookID); err != nil {
		return nil, err
	}
	return d, nil
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
		if !canReadTeam(p, *f.teamID) {
			return models.Forbidden()
		}
	}
	if f.serviceID != nil {
		sv, err := r.Store.FindServiceByID(ctx, *f.serviceID)
		if err != nil {
			return err
		}
		if !canReadTeam(p, sv.TeamID) {
			return models.Forbidden()
		}
	}
	return nil
}
