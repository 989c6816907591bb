package graph

import (
	"github.com/herald-hq/herald/graph/model"
	"github.com/herald-hq/herald/models"
)

func mapTeam(t *models.Team) *model.Team {
	return &model.Team{ID: t.ID, Name: t.Name}
}

func mapTeams(ts []*models.Team) []*model.Team {
	out := make([]*model.Team, len(ts))
	for i, t := range ts {
		out[i] = mapTeam(t)
	}
	return out
}

func mapService(s *models.Service) *model.Service {
	return &model.Service{ID: s.ID, Name: s.Name, TeamID: s.TeamID}
}

func mapServices(ss []*models.Service) []*model.Service {
	out := make([]*model.Service, len(ss))
	for i, s := range ss {
		out[i] = mapService(s)
	}
	return out
}

func mapUser(u *models.User) *model.User {
	return &model.User{ID: u.ID, Name: u.Name, Email: u.Email, Role: model.Role(u.Role)}
}

func mapAPIToken(t *models.APIToken) *model.APIToken {
	return &model.APIToken{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}
