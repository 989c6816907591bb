package graph

import (
	"context"
	"testing"

	"github.com/herald-hq/herald/models"
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
			{"an unknown user", "managerA", w.teamA.ID, "nope", models.CodeNotFound},
			{"into a team not managed", "managerA", w.teamB.ID, ids["memberA"], models.CodeForbidden},
			{"B's manager into A, by the admin", "admin", w.teamA.ID, ids["managerB"], ""},
		} {
			if code := add(tc.role, tc.team, tc.user); code != tc.code {
				t.Errorf("%s: %q, want %q", tc.what, code, tc.code)
			}
		}
	})
}
