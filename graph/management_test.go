package graph

import (
	"context"
	"testing"

	"github.com/herald-hq/herald/models"
	"github.com/herald-hq/herald/models/payload"
	"github.com/herald-hq/herald/models/storetest"
)

// TestAddTeamMemberStaysInTheManagersTeams: a team manager may move people between the teams
// they manage, but not pull in a user from elsewhere — that would show the stranger's e-mail
// and role and hand another team's manager a team of theirs; an admin may add anyone.
func TestAddTeamMemberStaysInTheManagersTeams(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		ctx := context.Background()
		ids := map[string]string{}
		users, err := s.ListUsers(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			ids[u.Name] = u.ID
		}
		teamC, err := s.CreateTeam(ctx, storetest.Name("c"))
		if err != nil {
			t.Fatal(err)
		}
		add := func(role, team, user string) string {
			t.Helper()
			_, errs := w.do(t, role, `mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, userId: $u) { id } }`, map[string]any{"t": team, "u": user})
			return webhookErrCode(t, errs)
		}
		if code := add("admin", teamC.ID, ids["managerA"]); code != "" {
			t.Fatalf("admin adds managerA to team C: %s", code)
		}
		for _, tc := range []struct{ what, role, team, user, code string }{
			{"a member of A into C, both managed", "managerA", teamC.ID, ids["memberA"], ""},
			{"B's manager into A", "managerA", w.teamA.ID, ids["managerB"], models.CodeForbidden},
			{"an admin into A", "managerA", w.teamA.ID, ids["admin"], models.CodeForbidden},
			{"an unknown user, like a stranger", "managerA", w.teamA.ID, "nope", models.CodeForbidden},
			{"an unknown user, by the admin", "admin", w.teamA.ID, "nope", models.CodeNotFound},
			{"into a team not managed", "managerA", w.teamB.ID, ids["memberA"], models.CodeForbidden},
			{"B's manager into A, by the admin", "admin", w.teamA.ID, ids["managerB"], ""},
		} {
			if code := add(tc.role, tc.team, tc.user); code != tc.code {
				t.Errorf("%s: %q, want %q", tc.what, code, tc.code)
			}
		}
	})
}

// TestUpdateIntegrationThroughTheAPI: a manager of the integration's team corrects its filter
// (the answer shows it, errors name the filter's field); another team's manager and a member
// are refused, and revokeIntegration follows the same rule.
func TestUpdateIntegrationThroughTheAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *models.Store) {
		w := setupWebhookWorld(t, s)
		in, _, err := s.CreateIntegration(context.Background(), w.service.ID, "Tool", payload.APIFilter{})
		if err != nil {
			t.Fatal(err)
		}
		const update = `mutation($id: ID!, $f: ApiFilterInput) { updateIntegration(id: $id, name: "Alertmanager", apiFilter: $f) { name apiFilter { mappingKey resolveWhen { key value } } } }`
		good := map[string]any{"mappingKey": "groupKey", "resolveWhen": map[string]any{"key": "status", "value": "resolved"}}
		for _, role := range []string{"managerB", "memberA"} {
			_, errs := w.do(t, role, update, map[string]any{"id": in.ID, "f": good})
			if code := webhookErrCode(t, errs); code != models.CodeForbidden {
				t.Errorf("%s: %q, want FORBIDDEN", role, code)
			}
			_, errs = w.do(t, role, `mutation($id: ID!) { revokeIntegration(id: $id) }`, map[string]any{"id": in.ID})
			if code := webhookErrCode(t, errs); code != models.CodeForbidden {
				t.Errorf("%s revokes: %q, want FORBIDDEN", role, code)
			}
		}
		_, errs := w.do(t, "managerA", update, map[string]any{"id": in.ID, "f": map[string]any{"resolveWhen": map[string]any{"key": "status", "value": "resolved"}}})
		if code := webhookErrCode(t, errs); code != models.CodeValidation || errs[0].Extensions["field"] != "apiFilter.mappingKey" {
			t.Errorf("filter without mappingKey: %+v", errs)
		}
		data, errs := w.do(t, "managerA", update, map[string]any{"id": in.ID, "f": good})
		if want := `{"updateIntegration":{"apiFilter":{"mappingKey":"groupKey","resolveWhen":{"key":"status","value":"resolved"}},"name":"Alertmanager"}}`; len(errs) > 0 || string(data) != want {
			t.Errorf("update: %s %+v, want %s", data, errs, want)
		}
	})
}
